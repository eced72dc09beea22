// A student's banners: dismissible for this page view, and announcements posted while the
// page is open arrive on the page's shared events socket (events.js) and are shown
// without a reload.
(function () {
  "use strict";

  const MAX_ANNOUNCEMENTS = 3;
  const section = document.querySelector("[data-banners]");
  if (!section) return;
  const list = section.querySelector("[data-announcements]");

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // "1 Dec, 15:04" in the reader's time zone, for rendered and pushed banners alike.
  function shortTime(iso) {
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return "";
    const pad = function (n) { return String(n).padStart(2, "0"); };
    const month = when.toLocaleString("en", { month: "short" });
    return when.getDate() + " " + month + ", " + pad(when.getHours()) + ":" + pad(when.getMinutes());
  }

  function enableDismiss(banner) {
    const button = banner.querySelector("[data-dismiss]");
    if (button) button.hidden = false;
  }

  section.querySelectorAll("[data-banner]").forEach(enableDismiss);
  section.querySelectorAll("time[datetime]").forEach(function (time) {
    time.textContent = shortTime(time.getAttribute("datetime")) || time.textContent;
  });
  section.addEventListener("click", function (event) {
    const button = event.target.closest("[data-dismiss]");
    if (button) button.closest("[data-banner]").remove();
  });

  function showAnnouncement(message) {
    if (list.querySelector('[data-announcement-id="' + CSS.escape(String(message.id)) + '"]')) return;
    const banner = element("div", "banner banner-announcement banner-new");
    banner.dataset.banner = "";
    banner.dataset.announcementId = message.id;
    const text = element("p");
    text.appendChild(element("span", "banner-label", message.cohort));
    text.appendChild(document.createTextNode(" "));
    text.appendChild(element("span", "banner-text", message.text));
    text.appendChild(document.createTextNode(" "));
    const meta = element("span", "banner-meta", message.author + ", ");
    const time = element("time", "", shortTime(message.created_at));
    time.setAttribute("datetime", message.created_at);
    meta.appendChild(time);
    text.appendChild(meta);
    banner.appendChild(text);
    const dismiss = element("button", "banner-dismiss", "×");
    dismiss.type = "button";
    dismiss.dataset.dismiss = "";
    dismiss.setAttribute("aria-label", "Dismiss this announcement");
    banner.appendChild(dismiss);
    list.prepend(banner);
    const shown = list.querySelectorAll("[data-announcement-id]");
    for (let i = MAX_ANNOUNCEMENTS; i < shown.length; i++) shown[i].remove();
  }

  window.labEvents.on("announcement", showAnnouncement);
})();
