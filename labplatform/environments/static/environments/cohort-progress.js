// Live provisioning progress on a cohort's staff page, from /ws/cohorts/<slug>/progress/.
(function () {
  "use strict";
  const section = document.getElementById("progress");
  if (!section) return;
  const live = section.querySelector("[data-live]");
  const bar = section.querySelector("[data-bar]");
  const stateLabels = { pending: "Pending", provisioning: "Provisioning", ready: "Ready", failed: "Failed", deleting: "Deleting", deleted: "Deleted" };

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

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

  let delay = 1000;
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + section.dataset.socket);
    socket.onopen = function () { live.textContent = "· live"; delay = 1000; };
    socket.onmessage = function (event) {
      const message = JSON.parse(event.data);
      if (message.progress) showProgress(message.progress);
      if (message.environment) showEnvironment(message.environment);
    };
    socket.onclose = function () {
      live.textContent = "· reconnecting…";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
