"""Helpers for browser tests of lesson pages: the terminal's screen as xterm.js holds it,
and provisioning a student beside Playwright."""

from concurrent.futures import ThreadPoolExecutor

from django.db import connections
from playwright.sync_api import Error as PlaywrightError

from tests.terminals import provision_ready

PASSWORD = "a-long-test-password"

# The lines on screen, from xterm.js's own buffer, with lines the terminal wrapped joined.
SCREEN = """() => {
  const term = window.labTerminal;
  if (!term) return "";
  const buffer = term.buffer.active;
  const lines = [];
  for (let i = 0; i < term.rows; i++) {
    const line = buffer.getLine(buffer.viewportY + i);
    const text = line ? line.translateToString(true) : "";
    if (line && line.isWrapped && lines.length) lines[lines.length - 1] += text;
    else lines.push(text);
  }
  return lines.join("\\n");
}"""


def wait_for_screen(page, pattern: str, *, timeout: float = 20) -> None:
    try:
        page.wait_for_function(
            f"(pattern) => new RegExp(pattern, 'm').test(({SCREEN})())", arg=pattern, timeout=timeout * 1000
        )
    except PlaywrightError as error:
        raise AssertionError(
            f"the terminal never showed /{pattern}/ ({error.message.splitlines()[0]}); it shows:\n"
            + page.evaluate(SCREEN)
        ) from None


def provision_beside_playwright(cohort):
    """In a thread of its own: provisioning announces progress with async_to_sync, which
    refuses the thread where Playwright's event loop runs."""

    def provision():
        try:
            return provision_ready(cohort)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(provision).result()
