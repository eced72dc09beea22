// The terminal panel: xterm.js on the terminal socket. The protocol is described in
// labplatform/terminal/consumers.py; in short, binary frames are the shell's bytes both
// ways, and output must be acknowledged once drawn or the server stops sending.
(function () {
  "use strict";

  const ACK_EVERY_BYTES = 16 * 1024;
  const ACK_DELAY_MS = 20;
  const INPUT_CHUNK_BYTES = 32 * 1024; // the server refuses frames over 64 KiB
  const RETRY_FIRST_MS = 1000;
  const RETRY_MAX_MS = 15000;
  // Closes after which trying again by itself would not help: the person decides
  // (4401 signed out, 4403 not or no longer allowed, 4410 ended or removed, 4429 too many
  // terminals open at once).
  const FINAL_CLOSE_CODES = new Set([1009, 4400, 4401, 4403, 4408, 4410, 4429]);
  const NOT_READY = 4409;
  const RESET_RETRY_MAX_MS = 4000;
  const RESETTING = "Resetting your environment… the terminal reconnects when it is ready.";

  const encoder = new TextEncoder();

  function copyText(text) {
    if (!text) return;
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).catch(function () { copyWithSelection(text); });
    } else {
      copyWithSelection(text);
    }
  }

  // Without the asynchronous clipboard (plain http away from localhost) the old
  // selection-and-copy command still works while a key or click is being handled.
  function copyWithSelection(text) {
    const focused = document.activeElement;
    const scratch = document.createElement("textarea");
    scratch.value = text;
    scratch.setAttribute("readonly", "");
    scratch.style.position = "fixed";
    scratch.style.opacity = "0";
    document.body.appendChild(scratch);
    scratch.select();
    try { document.execCommand("copy"); } catch { /* nothing more to try */ }
    scratch.remove();
    if (focused && focused.focus) focused.focus();
  }

  function canReadClipboard() {
    return Boolean(navigator.clipboard && navigator.clipboard.readText);
  }

  // OSC 52 is "Pc;Pd": a selection name and base64 text ("?" asks for the clipboard,
  // which a program in the terminal is never told).
  function osc52Text(data) {
    const payload = data.slice(data.indexOf(";") + 1);
    if (!payload || payload === "?") return "";
    try {
      const bytes = Uint8Array.from(atob(payload), function (c) { return c.charCodeAt(0); });
      return new TextDecoder().decode(bytes);
    } catch {
      return "";
    }
  }

  function TerminalPanel(root) {
    const readOnly = root.hasAttribute("data-read-only");
    const statusLine = root.querySelector("[data-status]");
    const notice = root.querySelector("[data-notice]");
    const watched = root.querySelector("[data-watched]");
    const reconnectButton = root.querySelector("[data-reconnect]");
    const resetForm = root.querySelector("[data-reset]");
    const screen = root.querySelector("[data-screen]");

    const term = new window.Terminal({
      cursorBlink: !readOnly,
      disableStdin: readOnly,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Cascadia Mono", Menlo, Consolas, monospace',
      fontSize: 14,
      scrollback: 2000,
      rightClickSelectsWord: false,
      macOptionClickForcesSelection: true,
      theme: { background: "#0f1420", foreground: "#e6e6e6", cursor: "#8fb8ff", selectionBackground: "#35507f" },
    });
    const fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(screen);

    let socket = null;
    let size = null; // {cols, rows} last measured from a visible panel
    let retryDelay = RETRY_FIRST_MS;
    let retryTimer = null;
    let resetting = false;
    let leaving = false;

    function setState(state, text) {
      root.dataset.state = state;
      statusLine.textContent = text;
      reconnectButton.hidden = !(state === "ended" || state === "reconnecting" || state === "waiting");
    }

    function showNotice(text) {
      notice.textContent = text || "";
      notice.hidden = !text;
    }

    function showWatchers(count) {
      if (watched) watched.hidden = !(count > 0);
    }

    function offerReset(prominent) {
      if (resetForm) resetForm.classList.toggle("prominent", prominent);
    }

    // Size: only from a visible panel whose measurement makes sense (a hidden or
    // collapsed panel measures 0, and the fit addon then proposes nonsense).
    function resizeToPanel() {
      if (screen.clientWidth === 0 || screen.clientHeight === 0) return;
      const proposed = fit.proposeDimensions();
      if (!proposed || !Number.isFinite(proposed.cols) || !Number.isFinite(proposed.rows)) return;
      if (proposed.cols < 10 || proposed.rows < 3) return;
      if (size && size.cols === proposed.cols && size.rows === proposed.rows) return;
      size = { cols: proposed.cols, rows: proposed.rows };
      term.resize(size.cols, size.rows);
      sendSize();
    }

    function sendSize() {
      if (size && socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "resize", cols: size.cols, rows: size.rows }));
      }
    }

    let resizeFrame = 0;
    new ResizeObserver(function () {
      cancelAnimationFrame(resizeFrame);
      resizeFrame = requestAnimationFrame(resizeToPanel);
    }).observe(screen);

    // Input

    function sendBytes(bytes) {
      if (readOnly || !socket || socket.readyState !== WebSocket.OPEN) return;
      for (let start = 0; start < bytes.length; start += INPUT_CHUNK_BYTES) {
        socket.send(bytes.subarray(start, start + INPUT_CHUNK_BYTES));
      }
    }

    term.onData(function (data) { sendBytes(encoder.encode(data)); });
    // Some mouse reports are raw bytes, one per character, not UTF-8.
    term.onBinary(function (data) {
      sendBytes(Uint8Array.from(data, function (c) { return c.charCodeAt(0) & 0xff; }));
    });

    function pasteFromClipboard() {
      navigator.clipboard.readText().then(
        function (text) { if (text) term.paste(text); },
        function () { showNotice("The browser did not let the page read the clipboard: paste with the browser's menu (right-click) instead."); },
      );
    }

    term.attachCustomKeyEventHandler(function (event) {
      if (event.type !== "keydown" || !event.ctrlKey || !event.shiftKey || event.altKey || event.metaKey) return true;
      if (event.code === "KeyC") {
        event.preventDefault();
        if (term.hasSelection()) copyText(term.getSelection());
        return false; // never a Ctrl-C to the shell
      }
      if (event.code === "KeyV") {
        if (!readOnly && canReadClipboard()) {
          event.preventDefault();
          pasteFromClipboard();
        }
        // Otherwise the browser's own paste event reaches the terminal.
        return false;
      }
      return true;
    });

    screen.addEventListener("contextmenu", function (event) {
      if (term.hasSelection()) {
        event.preventDefault();
        copyText(term.getSelection());
        term.clearSelection();
      } else if (!readOnly && canReadClipboard()) {
        event.preventDefault();
        pasteFromClipboard();
      }
      // Otherwise the browser's menu opens over the terminal, and its Paste works.
    });

    // A selection copied in tmux (mouse drag, or copy mode) arrives as OSC 52.
    term.parser.registerOscHandler(52, function (data) {
      if (!readOnly) copyText(osc52Text(data));
      return true;
    });

    // Output, acknowledged once xterm.js has drawn it. Acks belong to one socket: the
    // server counts per connection.
    function outputSink(ws) {
      let unacked = 0;
      let timer = null;
      function flush() {
        clearTimeout(timer);
        timer = null;
        if (unacked > 0 && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ack", bytes: unacked }));
        unacked = 0;
      }
      return function (buffer) {
        const bytes = new Uint8Array(buffer);
        term.write(bytes, function () {
          unacked += bytes.length;
          if (unacked >= ACK_EVERY_BYTES) flush();
          else if (!timer) timer = setTimeout(flush, ACK_DELAY_MS);
        });
      };
    }

    // The connection
    //
    // Not labSocket (labplatform/static/js/socket.js), the pages' reconnecting socket: the
    // terminal's protocol decides its retries itself, and labSocket would need a hook for
    // each of these, which only the terminal would use: binary frames, not JSON; acks
    // counted per connection; the backoff reset by the server's "status" frame (the shell
    // attached), not by the socket opening, so a server that accepts and then closes with
    // 4409 (not ready) is still retried more and more slowly; the close code, the "ended"
    // frame before it and a reset under way choosing between stopping, waiting and
    // retrying, with a shorter ceiling while resetting; and Reconnect or a reset replacing
    // the socket at once.
    function connect() {
      clearTimeout(retryTimer);
      retryTimer = null;
      if (socket) {
        const old = socket;
        socket = null;
        old.close();
      }
      const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      const ws = new WebSocket(scheme + window.location.host + root.dataset.socket);
      ws.binaryType = "arraybuffer";
      socket = ws;
      const write = outputSink(ws);
      let ended = null;
      if (root.dataset.state === "ended") setState("connecting", "Connecting…");

      // The size goes first: the server waits for it, so the shell's screen is drawn
      // once, at this panel's size.
      ws.onopen = function () {
        if (ws !== socket) return;
        resizeToPanel();
        sendSize();
      };

      ws.onmessage = function (event) {
        if (ws !== socket) return;
        if (typeof event.data !== "string") {
          write(event.data);
          return;
        }
        const message = JSON.parse(event.data);
        if (message.type === "status") {
          resetting = false;
          retryDelay = RETRY_FIRST_MS;
          // The session redraws its whole screen on attach.
          term.reset();
          setState("connected", readOnly ? "Connected · read-only" : "Connected");
          showNotice("");
          offerReset(false);
          showWatchers(message.watchers);
          resizeToPanel();
          sendSize(); // a new connection has no size yet, even if the panel kept its own
          if (!readOnly && document.activeElement === document.body) term.focus();
        } else if (message.type === "watchers") {
          showWatchers(message.count);
        } else if (message.type === "ended") {
          ended = message;
        }
      };

      ws.onclose = function (event) {
        if (ws !== socket || leaving) return;
        socket = null;
        showWatchers(0);
        if (ended && ended.reset) {
          // The environment failed or lost its workstation: only a reset helps.
          resetting = false;
          setState("ended", ended.reason);
          offerReset(true);
        } else if (resetting) {
          setState("resetting", RESETTING);
          retryLater(RESET_RETRY_MAX_MS);
        } else if (ended && FINAL_CLOSE_CODES.has(event.code)) {
          setState("ended", ended.reason);
        } else if (ended && event.code === NOT_READY) {
          setState("waiting", ended.reason);
          retryLater(RETRY_MAX_MS);
        } else {
          setState("reconnecting", ended ? ended.reason : "Connection lost; reconnecting…");
          retryLater(RETRY_MAX_MS);
        }
      };
    }

    function retryLater(maxDelay) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, Math.min(retryDelay, maxDelay));
      retryDelay = Math.min(retryDelay * 2, maxDelay);
    }

    reconnectButton.addEventListener("click", function () {
      retryDelay = RETRY_FIRST_MS;
      connect();
    });

    if (resetForm) {
      resetForm.addEventListener("submit", function (event) {
        event.preventDefault();
        if (!window.confirm(resetForm.dataset.confirm)) return;
        const button = resetForm.querySelector("button");
        button.disabled = true;
        fetch(resetForm.action, {
          method: "POST",
          body: new FormData(resetForm),
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        })
          .then(function (response) {
            return response.json().then(function (answer) { return answer; }, function () {
              return { resetting: false, message: "The reset could not be started (HTTP " + response.status + "). Try again in a moment." };
            });
          })
          .then(function (answer) {
            showNotice(answer.message);
            if (!answer.resetting) return;
            resetting = true;
            offerReset(false);
            retryDelay = RETRY_FIRST_MS;
            term.reset();
            setState("resetting", RESETTING);
            connect();
          }, function () {
            showNotice("The reset could not be sent: check your connection and try again.");
          })
          .finally(function () { button.disabled = false; });
      });
    }

    window.addEventListener("pagehide", function () {
      leaving = true;
      clearTimeout(retryTimer);
      if (socket) socket.close();
    });
    // Back to a page the browser kept (back/forward cache): its socket is gone.
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted) return;
      leaving = false;
      retryDelay = RETRY_FIRST_MS;
      connect();
    });

    resizeToPanel();
    connect();
    return term;
  }

  document.querySelectorAll("[data-terminal]").forEach(function (root) {
    const term = TerminalPanel(root);
    // For tests and the curious: the first panel's xterm.js Terminal.
    if (!window.labTerminal) window.labTerminal = term;
  });
})();
