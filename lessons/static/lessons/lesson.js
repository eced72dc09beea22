// The lesson page: command blocks paste into the terminal, mermaid diagrams are drawn,
// and task cards start tasks, reveal hints and show each check as it is graded. Results
// are pushed on /ws/events/; when no push comes (a dropped socket), the attempt is polled,
// so a card never spins for ever.
(function () {
  "use strict";

  const PUSH_GRACE_MS = 3000;
  const POLL_EVERY_MS = 2000;
  const GIVE_UP_AFTER_MS = 3 * 60 * 1000;
  const HISTORY_LENGTH = 5;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function formatTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (time) {
      const when = new Date(time.getAttribute("datetime"));
      if (!Number.isNaN(when.getTime())) time.textContent = when.toLocaleTimeString();
    });
  }

  // Command blocks

  function copyText(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) return navigator.clipboard.writeText(text);
    return Promise.reject(new Error("no clipboard"));
  }

  function noteBeside(button, text) {
    const block = button.closest(".command") || button.parentElement;
    let note = block.querySelector(".command-note");
    if (!note) {
      note = element("span", "command-note");
      note.setAttribute("role", "status");
      block.appendChild(note);
    }
    note.textContent = text;
    clearTimeout(note.timer);
    note.timer = setTimeout(function () { note.textContent = ""; }, 4000);
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button.command-paste");
    if (!button) return;
    // Pasted, not run: the student reads it and presses Enter.
    const command = button.dataset.command.replace(/\n+$/, "");
    const term = window.labTerminal;
    if (term) {
      term.paste(command);
      term.focus();
      noteBeside(button, "Pasted into the terminal: press Enter to run it.");
      return;
    }
    copyText(command).then(
      function () { noteBeside(button, "There is no terminal on this page: copied to the clipboard instead."); },
      function () { noteBeside(button, "There is no terminal on this page, and the browser refused the clipboard: select the text and copy it."); },
    );
  });

  const page = document.querySelector("[data-lesson-page]");
  if (!page) return;
  // The words and marks of lessons/templatetags/lesson_tags.py, rendered into the page.
  const states = JSON.parse(document.getElementById("lesson-states").textContent);
  const TASK_STATES = states.task;
  const ATTEMPT_STATES = states.attempt;
  const CHECK_MARKS = states.check_marks;
  formatTimes(page);

  // Diagrams: mermaid is large, so it is loaded only where a diagram is.

  const diagrams = page.querySelectorAll("pre.mermaid");
  if (diagrams.length) {
    const script = document.createElement("script");
    script.src = page.dataset.mermaidSrc;
    script.onload = function () {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
      window.mermaid.run({ nodes: diagrams }).catch(function (error) {
        console.error("mermaid:", error);
      });
    };
    document.head.appendChild(script);
  }

  // Task cards

  function cardFor(lesson, task) {
    return page.querySelector(
      '[data-task-card][data-lesson="' + CSS.escape(lesson) + '"][data-task="' + CSS.escape(task) + '"]',
    );
  }

  function showError(card, text) {
    const box = card.querySelector("[data-task-error]");
    if (!box) return;
    box.textContent = text || "";
    box.hidden = !text;
  }

  function setCheckStatus(card, text) {
    const status = card.querySelector("[data-check-status]");
    if (status) status.textContent = text;
  }

  function setChecking(card, checking) {
    const button = card.querySelector("[data-check-button]");
    if (button) button.disabled = checking;
    card.classList.toggle("checking", checking);
  }

  function resultsList(attempt) {
    const box = element("div", "attempt attempt-" + attempt.state);
    box.dataset.attemptId = attempt.id;
    const summary = element("p", "attempt-summary");
    summary.appendChild(element("strong", "", ATTEMPT_STATES[attempt.state] || attempt.state));
    if (attempt.message) summary.appendChild(document.createTextNode(" · " + attempt.message));
    box.appendChild(summary);
    if (attempt.results && attempt.results.length) {
      const list = element("ul", "checks");
      attempt.results.forEach(function (result) {
        const [mark, word] = CHECK_MARKS[result.status] || ["!", result.status];
        const item = element("li", "check check-" + result.status);
        const markNode = element("span", "check-mark", mark);
        markNode.setAttribute("aria-hidden", "true");
        item.appendChild(markNode);
        item.appendChild(element("span", "visually-hidden", word + ":"));
        const text = element("span", "check-text");
        if (result.title) {
          text.appendChild(element("strong", "", result.title));
          text.appendChild(document.createTextNode(" "));
        }
        text.appendChild(element("span", "check-message", result.message));
        item.appendChild(text);
        list.appendChild(item);
      });
      box.appendChild(list);
    }
    return box;
  }

  function historyItem(attempt) {
    const item = element("li");
    item.dataset.attemptId = attempt.id;
    const time = element("time");
    time.setAttribute("datetime", attempt.created_at);
    item.appendChild(time);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(element("span", "attempt-state attempt-state-" + attempt.state, ATTEMPT_STATES[attempt.state] || attempt.state));
    item.appendChild(document.createTextNode(" "));
    item.appendChild(element("span", "muted", attempt.message));
    formatTimes(item);
    return item;
  }

  function updateHistory(card, attempt) {
    const list = card.querySelector("[data-history]");
    if (!list) return;
    const fresh = historyItem(attempt);
    const old = list.querySelector('li[data-attempt-id="' + attempt.id + '"]');
    if (old) old.replaceWith(fresh);
    else list.prepend(fresh);
    while (list.children.length > HISTORY_LENGTH) list.lastElementChild.remove();
    card.querySelector("[data-history-box]").hidden = list.children.length < 2;
  }

  // Draws an attempt on its task's card, unless the card already shows a newer one.
  function showAttempt(attempt) {
    const card = cardFor(attempt.lesson, attempt.task);
    if (!card || Number(card.dataset.attempt || 0) > attempt.id) return;
    card.dataset.attempt = attempt.id;
    card.dataset.attemptState = attempt.state;
    const results = card.querySelector("[data-results]");
    if (results) results.replaceChildren(resultsList(attempt));
    updateHistory(card, attempt);
    const state = attempt.state === "pending" ? "pending" : (attempt.progress && attempt.progress.state) || attempt.state;
    card.dataset.state = state;
    const badge = card.querySelector("[data-badge]");
    badge.className = "badge badge-" + state;
    badge.textContent = TASK_STATES[state] || state;
    const pending = attempt.state === "pending";
    setChecking(card, pending);
    setCheckStatus(card, pending ? "Checking…" : "");
  }

  // Attempts being graded: each waits for a push, and is polled when none comes in time.
  const watches = new Map();

  function watch(attempt) {
    let entry = watches.get(attempt.id);
    if (attempt.state !== "pending") {
      if (entry) clearTimeout(entry.timer);
      watches.delete(attempt.id);
      return;
    }
    if (!entry) {
      entry = { id: attempt.id, lesson: attempt.lesson, task: attempt.task, since: Date.now(), timer: null };
      watches.set(attempt.id, entry);
    }
    clearTimeout(entry.timer);
    entry.timer = setTimeout(function () { poll(entry); }, PUSH_GRACE_MS);
  }

  function pollAgain(entry) {
    if (watches.get(entry.id) === entry) entry.timer = setTimeout(function () { poll(entry); }, POLL_EVERY_MS);
  }

  function poll(entry) {
    if (watches.get(entry.id) !== entry) return;
    if (Date.now() - entry.since > GIVE_UP_AFTER_MS) {
      watches.delete(entry.id);
      const card = cardFor(entry.lesson, entry.task);
      if (card) {
        setChecking(card, false);
        setCheckStatus(card, "Still checking after a few minutes: reload the page to see the result, or press Check again.");
      }
      return;
    }
    const url = page.dataset.attemptUrl.replace(/\/0$/, "/" + entry.id);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(
        function (attempt) {
          if (watches.get(entry.id) !== entry) return; // a push finished it meanwhile
          if (!attempt) return pollAgain(entry);
          showAttempt(attempt);
          if (attempt.state === "pending") pollAgain(entry);
          else watch(attempt);
        },
        function () { pollAgain(entry); },
      );
  }

  // Start, check, hint

  function post(form) {
    return fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json", "X-CSRFToken": form.elements.csrfmiddlewaretoken.value },
      credentials: "same-origin",
    }).then(
      function (response) {
        return response.json().then(
          function (body) { return { ok: response.ok, body: body }; },
          function () {
            const signedOut = response.redirected && response.url.indexOf("/login/") !== -1;
            return {
              ok: false,
              body: {
                error: signedOut
                  ? "You are signed out: reload the page and sign in again."
                  : "The server answered HTTP " + response.status + "; try again in a moment.",
              },
            };
          },
        );
      },
      function () { return { ok: false, body: { error: "The server could not be reached: check your connection and try again." } }; },
    );
  }

  function replaceCard(card, html, action) {
    const typed = Array.from(card.querySelectorAll("input[name=answer]"), function (input) { return input.value; });
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const fresh = template.content.firstElementChild;
    card.replaceWith(fresh);
    if (fresh.dataset.attemptState === "pending") {
      setChecking(fresh, true);
      setCheckStatus(fresh, "Checking…");
    }
    fresh.querySelectorAll("input[name=answer]").forEach(function (input, index) {
      if (typed[index]) input.value = typed[index];
    });
    formatTimes(fresh);
    let focus;
    if (action === "hint") {
      const hints = fresh.querySelectorAll(".hint");
      focus = hints[hints.length - 1];
      if (focus) focus.tabIndex = -1;
    } else {
      focus = fresh.querySelector("input[name=answer], [data-check-button]");
    }
    if (focus) focus.focus();
  }

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-task-action]");
    if (!form || !page.contains(form)) return;
    event.preventDefault();
    const card = form.closest("[data-task-card]");
    const action = form.dataset.taskAction;
    const button = form.querySelector("button[type=submit]");
    const label = button.textContent;
    button.disabled = true;
    showError(card, "");
    if (action === "open") button.textContent = "Setting up…";
    if (action === "check") {
      setChecking(card, true);
      setCheckStatus(card, "Checking…");
    }
    post(form).then(function (answer) {
      button.textContent = label;
      if (!answer.ok) {
        button.disabled = false;
        if (action === "check") {
          setChecking(card, false);
          setCheckStatus(card, "");
        }
        showError(card, answer.body.error || "That did not work; try again in a moment.");
        return;
      }
      if (action === "check") {
        showAttempt(answer.body.attempt);
        watch(answer.body.attempt);
      } else {
        replaceCard(card, answer.body.html, action);
      }
    });
  });

  // Attempts still being graded when the page was drawn (a reload mid-check).
  page.querySelectorAll('[data-task-card][data-attempt-state="pending"]').forEach(function (card) {
    setChecking(card, true);
    setCheckStatus(card, "Checking…");
    watch({ id: Number(card.dataset.attempt), lesson: card.dataset.lesson, task: card.dataset.task, state: "pending" });
  });
  // Pushed results, on the page's shared events socket (labplatform/static/js/events.js).
  // What was pushed while the socket was down is lost: ask when it opens again.
  window.labEvents.onOpen(function () {
    watches.forEach(function (entry) {
      clearTimeout(entry.timer);
      poll(entry);
    });
  });
  window.labEvents.on("attempt", function (message) {
    showAttempt(message);
    watch(message);
  });
})();
