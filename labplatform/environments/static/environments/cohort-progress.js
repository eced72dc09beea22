// Live provisioning progress on a cohort's staff page, from /ws/cohorts/<slug>/progress/.
// The state words come from the page (StudentEnvironment.State, rendered by json_script).
(function () {
  "use strict";

  // Destructive buttons ask first: here and on a student's drill-down page, which loads
  // this script for them alone (it has no progress section).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  const section = document.getElementById("progress");
  if (!section) return;
  const live = section.querySelector("[data-live]");
  const bar = section.querySelector("[data-bar]");
  const stateLabels = JSON.parse(document.getElementById("environment-states").textContent);

  function showProgress(progress) {
    section.querySelectorAll("[data-count]").forEach(function (element) {
      const key = element.dataset.count;
      element.textContent = key === "total" ? progress.total : progress.states[key] || 0;
    });
    bar.max = Math.max(progress.total, 1);
    bar.value = progress.states.ready || 0;
    bar.textContent = (progress.states.ready || 0) + " of " + progress.total;
  }

  function showEnvironment(environment) {
    const row = document.querySelector('tr[data-namespace="' + CSS.escape(environment.namespace) + '"]');
    if (!row) return;
    const state = row.querySelector("[data-state]");
    state.textContent = stateLabels[environment.state] || environment.state;
    state.className = "state state-" + environment.state;
    row.querySelector("[data-error]").textContent = environment.error || "";
  }

  window.labSocket(section.dataset.socket, {
    status: live,
    closedLabels: { 4403: "· not live: for staff only" },
    onMessage: function (message) {
      if (message.progress) showProgress(message.progress);
      if (message.environment) showEnvironment(message.environment);
    },
  });
})();
