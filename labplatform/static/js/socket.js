// labSocket(path, options): the one reconnecting WebSocket of the pages that are pushed to
// (events.js, the teaching dashboard, provisioning progress). It connects to `path` on this
// host, hands each JSON message to onMessage, reconnects with backoff (1 s doubling to
// 30 s) when the socket drops, closes when the page is left and connects again when the
// page comes back from the back/forward cache.
//
// Its state is one of "connecting", "live", "reconnecting" and "closed" (a close after
// which retrying would not help, see finalCloseCodes): given a `status` element, it is
// shown there (its data-socket-state attribute, and its text from `labels`), and onState
// hears every change.
//
// Options: onMessage(message), onOpen({reopened}) (reopened: not the first open, so what
// was pushed meanwhile is lost: catch up), onState(state, closeEvent), status, labels,
// finalCloseCodes (a Set; by default 4401 and 4403), closedLabels (the status's words
// after a final close, by its code: why it closed; by default for 4401, signed out, and
// 4403, no longer allowed here). Returns {state(), close()}.
//
// A server closes a socket for good with 4401 once its user has signed out and 4403 once
// they may no longer see what it carries (labplatform/sockets.py).
//
// The terminal (terminal/terminal.js) keeps its own socket: see the note at its connect().
window.labSocket = function (path, options) {
  "use strict";

  const RETRY_FIRST_MS = 1000;
  const RETRY_MAX_MS = 30000;
  const settings = options || {};
  const labels = Object.assign(
    { connecting: "", live: "· live", reconnecting: "· reconnecting…", closed: "· not live: reload the page" },
    settings.labels || {},
  );
  const finalCodes = settings.finalCloseCodes || new Set([4401, 4403]);
  const closedLabels = Object.assign(
    { 4401: "· not live: you signed out; sign in again", 4403: "· not live: you no longer have access to this page" },
    settings.closedLabels || {},
  );
  let socket = null;
  let state = null;
  let retryDelay = RETRY_FIRST_MS;
  let retryTimer = null;
  let opened = false;
  let leaving = false;
  let stopped = false;

  function setState(next, event) {
    if (next === state) return;
    state = next;
    if (settings.status) {
      settings.status.dataset.socketState = next;
      const closedWhy = next === "closed" && event ? closedLabels[event.code] : null;
      settings.status.textContent = closedWhy || labels[next] || "";
    }
    if (settings.onState) settings.onState(next, event);
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + window.location.host + path);
    socket = ws;
    if (state !== "reconnecting") setState("connecting");
    ws.onopen = function () {
      if (ws !== socket) return;
      retryDelay = RETRY_FIRST_MS;
      setState("live");
      const reopened = opened;
      opened = true;
      if (settings.onOpen) settings.onOpen({ reopened: reopened });
    };
    ws.onmessage = function (event) {
      if (ws !== socket || !settings.onMessage) return;
      settings.onMessage(JSON.parse(event.data));
    };
    ws.onclose = function (event) {
      if (ws !== socket || leaving || stopped) return;
      socket = null;
      if (finalCodes.has(event.code)) {
        setState("closed", event);
        return;
      }
      setState("reconnecting", event);
      retryTimer = setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
    };
  }

  window.addEventListener("pagehide", function () {
    leaving = true;
    clearTimeout(retryTimer);
    if (socket) socket.close();
  });
  // Back to a page the browser kept (back/forward cache): its socket is gone.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted || stopped) return;
    leaving = false;
    retryDelay = RETRY_FIRST_MS;
    connect();
  });

  connect();
  return {
    state: function () { return state; },
    close: function () {
      stopped = true;
      clearTimeout(retryTimer);
      if (socket) socket.close();
      socket = null;
    },
  };
};
