// The cohort dashboard's heatmap, live: cells change as grades land (/ws/teach/<slug>/),
// and every cell is fetched again whenever the socket (re)connects, so nothing missed
// while it was down stays wrong.
(function () {
  "use strict";
  const section = document.getElementById("heatmap");
  if (!section) return;
  const live = section.querySelector("[data-live]");
  const words = { passed: "passed", failed: "failed", pending: "being checked", open: "opened, not checked yet", not_started: "not started" };

  function mark(state, attempts) {
    if (state === "failed") return "✗" + attempts;
    return { passed: "✓", pending: "…", open: "○" }[state] || "·";
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

  let delay = 1000;
  let opened = false;
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + section.dataset.socket);
    socket.onopen = function () {
      live.textContent = "· live";
      delay = 1000;
      if (opened) catchUp();
      opened = true;
    };
    socket.onmessage = function (event) {
      const message = JSON.parse(event.data);
      if (message.type === "cell") {
        showCell(message.student, message.task, message.state, message.attempts);
        section.dataset.lastUpdate = message.student + " " + message.task + " " + message.state;
      }
    };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403) {
        live.textContent = "· not live: sign in again";
        return;
      }
      live.textContent = "· reconnecting…";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
