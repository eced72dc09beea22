// One socket per page for the signed-in user's live events (/ws/events/), shared by the
// page's scripts: lesson.js listens for attempts, banners.js for announcements. It opens on
// the first subscription, reconnects with backoff, closes when the page is left and opens
// again when the page comes back from the back/forward cache. A script that must catch up
// on what was pushed while the socket was down registers with onOpen.
window.labEvents = (function () {
  "use strict";

  const RETRY_MAX_MS = 30000;
  const handlers = {};
  const openers = [];
  let socket = null;
  let retryDelay = 1000;
  let leaving = false;
  let started = false;

  function path() {
    const declared = document.querySelector("[data-events-socket]");
    return declared ? declared.dataset.eventsSocket : "/ws/events/";
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + window.location.host + path());
    socket = ws;
    ws.onopen = function () {
      retryDelay = 1000;
      openers.forEach(function (opened) { opened(); });
    };
    ws.onmessage = function (event) {
      const message = JSON.parse(event.data);
      (handlers[message.type] || []).forEach(function (handle) { handle(message); });
    };
    ws.onclose = function () {
      if (ws !== socket || leaving) return;
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
    };
  }

  window.addEventListener("pagehide", function () {
    leaving = true;
    if (socket) socket.close();
  });
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted || !started) return;
    leaving = false;
    connect();
  });

  return {
    on: function (type, handle) {
      (handlers[type] = handlers[type] || []).push(handle);
      if (!started) {
        started = true;
        connect();
      }
    },
    onOpen: function (opened) {
      openers.push(opened);
    },
  };
})();
