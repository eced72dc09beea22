// One socket per page for the signed-in user's live events (/ws/events/), shared by the
// page's scripts: lesson.js listens for attempts, banners.js for announcements. It opens on
// the first subscription; labSocket (socket.js) reconnects it with backoff and closes it
// when the page is left. A script that must catch up on what was pushed while the socket
// was down registers with onOpen (called on every open, the first included). The socket's
// state is on <html data-events-state="…">.
window.labEvents = (function () {
  "use strict";

  const handlers = {};
  const openers = [];
  let started = false;

  function path() {
    const declared = document.querySelector("[data-events-socket]");
    return declared ? declared.dataset.eventsSocket : "/ws/events/";
  }

  function start() {
    started = true;
    window.labSocket(path(), {
      onOpen: function () {
        openers.forEach(function (opened) { opened(); });
      },
      onMessage: function (message) {
        (handlers[message.type] || []).forEach(function (handle) { handle(message); });
      },
      onState: function (state) {
        document.documentElement.dataset.eventsState = state;
      },
    });
  }

  return {
    on: function (type, handle) {
      (handlers[type] = handlers[type] || []).push(handle);
      if (!started) start();
    },
    onOpen: function (opened) {
      openers.push(opened);
    },
  };
})();
