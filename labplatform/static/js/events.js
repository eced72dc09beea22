// One socket per page for the signed-in user's live events (/ws/events/), shared by the
// page's scripts: lesson.js listens for attempts, banners.js for announcements. It opens on
// the first subscription; labSocket (socket.js) reconnects it with backoff and closes it
// when the page is left. A script that must catch up on what was pushed while the socket
// was down registers with onOpen (called on every open, the first included). The socket's
// state is on <html data-events-state="…">. Once the user has signed out (in this browser,
// in another tab) the server closes it (4401) and the page says so above its content.
window.labEvents = (function () {
  "use strict";

  const handlers = {};
  const openers = [];
  let started = false;

  function path() {
    const declared = document.querySelector("[data-events-socket]");
    return declared ? declared.dataset.eventsSocket : "/ws/events/";
  }

  function signedOut() {
    if (document.querySelector("[data-signed-out]")) return;
    const list = document.createElement("ul");
    list.className = "messages";
    list.setAttribute("role", "status");
    list.dataset.signedOut = "";
    const item = document.createElement("li");
    item.className = "warning";
    item.textContent = "You signed out, so this page no longer updates live. Sign in again to continue.";
    list.appendChild(item);
    const workspace = document.querySelector(".workspace");
    if (workspace) workspace.before(list);
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
      onState: function (state, closeEvent) {
        document.documentElement.dataset.eventsState = state;
        if (state === "closed" && closeEvent && closeEvent.code === 4401) signedOut();
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
