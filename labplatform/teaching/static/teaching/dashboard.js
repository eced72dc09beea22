// The cohort dashboard's heatmap, live: cells change as grades land (/ws/teach/<slug>/),
// and every cell is fetched again whenever the socket (re)connects, so nothing missed
// while it was down stays wrong. The cells' words and marks come from the page
// (labplatform/teaching/dashboard.py's CELL_STATES, rendered by json_script).
(function () {
  "use strict";
  const section = document.getElementById("heatmap");
  if (!section) return;
  const live = section.querySelector("[data-live]");
  const cellStates = JSON.parse(document.getElementById("cell-states").textContent);
  const words = cellStates.words;
  const marks = cellStates.marks;

  function mark(state, attempts) {
    if (state === "failed") return marks.failed + attempts;
    return marks[state] || marks.not_started;
  }

  function rowOf(student) {
    return section.querySelector('tr[data-student="' + CSS.escape(student) + '"]');
  }

  function showCell(student, task, state, attempts) {
    const row = rowOf(student);
    if (!row) return false;
    const cell = row.querySelector('td[data-task="' + CSS.escape(task) + '"]');
    if (!cell) return false;
    const was = cell.classList.contains("passed");
    cell.className = "cell " + state;
    cell.textContent = mark(state, attempts);
    cell.title = (words[state] || state) + (attempts ? " (" + attempts + " Check" + (attempts === 1 ? "" : "s") + ")" : "");
    const now = state === "passed";
    if (was !== now) {
      const passed = row.querySelector("[data-passed]");
      passed.textContent = String(Number(passed.textContent) + (now ? 1 : -1));
      addPassed(now ? 1 : -1);
    }
    return true;
  }

  function addPassed(delta) {
    const passed = document.querySelector("[data-passed-pairs]");
    const total = Number(document.querySelector("[data-total-pairs]").textContent);
    const value = Number(passed.textContent) + delta;
    passed.textContent = String(value);
    document.querySelector("[data-completion]").textContent = total ? (100 * value / total).toFixed(1) : "0.0";
  }

  function catchUp() {
    fetch(section.dataset.cellsUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        section.querySelectorAll("tr[data-student]").forEach(function (row) {
          const cells = data.cells[row.dataset.student] || {};
          row.querySelectorAll("td[data-task]").forEach(function (cell) {
            const found = cells[cell.dataset.task] || ["not_started", 0];
            if (!cell.classList.contains(found[0]) || cell.textContent !== mark(found[0], found[1])) {
              showCell(row.dataset.student, cell.dataset.task, found[0], found[1]);
            }
          });
        });
        document.querySelector("[data-passed-pairs]").textContent = String(data.passed_pairs);
        addPassed(0);
      })
      .catch(function () { /* the next reconnect tries again */ });
  }

  // Signed out (4401) or no longer teaching it (4403): retrying would not help.
  window.labSocket(section.dataset.socket, {
    status: live,
    labels: { closed: "· not live: sign in again" },
    closedLabels: { 4403: "· not live: you no longer teach this cohort" },
    finalCloseCodes: new Set([4401, 4403]),
    onOpen: function (opened) {
      if (opened.reopened) catchUp();
    },
    onMessage: function (message) {
      if (message.type === "cell") {
        showCell(message.student, message.task, message.state, message.attempts);
        section.dataset.lastUpdate = message.student + " " + message.task + " " + message.state;
      }
    },
  });
})();
