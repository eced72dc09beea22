"""The terminal panel in real Chromium, through daphne, into real workstations on the local
cluster: kubectl, a full-screen program across a reload, a job across a web restart,
Ctrl-C through a flood of output, an instructor's read-only view, a reset, and copy and
paste through the clipboard."""

import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.e2e.lesson_pages import PASSWORD
from tests.kube import wait_for
from tests.processes import WebServer, restartable_web

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]


# The lines on screen, from xterm.js's own buffer (what the person sees).
SCREEN = """() => {
  const term = window.labTerminal;
  if (!term) return "";
  const buffer = term.buffer.active;
  const lines = [];
  for (let i = 0; i < term.rows; i++) {
    const line = buffer.getLine(buffer.viewportY + i);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
}"""


@pytest.fixture(scope="module")
def web(django_db_setup):
    with restartable_web("e2e-terminal-web") as server:
        yield server


def signed_in(browser, web: WebServer, user, **context_options):
    context = browser.new_context(viewport={"width": 1366, "height": 800}, **context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(web.url + "/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(web.url + "/")
    return page


@pytest.fixture
def student_page(browser, web, cohort):
    page = signed_in(browser, web, cohort[0].user)
    yield page
    page.context.close()


def screen(page) -> str:
    return page.evaluate(SCREEN)


def wait_for_screen(page, pattern: str, *, timeout: float = 20) -> None:
    """Until the terminal shows a match of the regular expression `pattern`."""
    try:
        page.wait_for_function(
            f"(pattern) => new RegExp(pattern, 'm').test(({SCREEN})())", arg=pattern, timeout=timeout * 1000
        )
    except PlaywrightError as error:
        status = page.locator("[data-status]").text_content()
        raise AssertionError(
            f"the terminal never showed /{pattern}/ ({error.message.splitlines()[0]}); "
            f"status {status!r}; it shows:\n{screen(page)}"
        ) from None


def wait_for_prompt(page) -> None:
    """Until the shell waits for a command: typing earlier may be thrown away by a
    program that is still leaving (vim flushes its input when it restores the terminal)."""
    wait_for_screen(page, r"\$\s*$(?![\s\S]*\S)")


def wait_connected(page, *, timeout: float = 20) -> None:
    expect(page.locator("[data-terminal]")).to_have_attribute("data-state", "connected", timeout=timeout * 1000)


def run(page, command: str) -> None:
    page.keyboard.type(command)
    page.keyboard.press("Enter")


def open_terminal(page) -> None:
    wait_connected(page)
    page.locator("[data-screen]").click()
    # A marker that only the shell's output contains, not the typed command.
    run(page, "echo ready-$((6*7))")
    wait_for_screen(page, r"^ready-42")


def test_the_student_runs_kubectl_and_sees_their_pods(student_page, screenshots):
    page = student_page
    expect(page.get_by_role("heading", name="Terminal")).to_be_visible()
    open_terminal(page)

    run(page, "kubectl create deployment web --image=nginx --replicas=2")
    wait_for_screen(page, r"deployment\.apps/web created")
    run(page, "kubectl rollout status deployment/web --timeout=60s")
    wait_for_screen(page, r"successfully rolled out", timeout=70)
    run(page, "clear; kubectl get pods")
    wait_for_screen(page, r"^web-\S+\s+1/1\s+Running")
    pods = re.findall(r"^web-\S+", screen(page), re.MULTILINE)
    assert len(pods) == 2, screen(page)

    page.screenshot(path=screenshots / "terminal-student.png")


def test_the_terminal_is_a_container_on_the_real_node(student_page, screenshots):
    """What the student types runs in their workstation's container: a user namespace (the
    container's root is an unprivileged id of the host's), its own processes only."""
    page = student_page
    open_terminal(page)
    run(page, "clear; echo map-$(awk '{print $1 \"-\" $2}' /proc/self/uid_map)-end")
    wait_for_screen(page, r"^map-\d+-\d+-end")
    run(page, "echo procs-$(ps -e --no-headers | wc -l)-end")
    wait_for_screen(page, r"^procs-\d+-end")
    shown = screen(page)
    inside, outside = re.search(r"^map-(\d+)-(\d+)-end", shown, re.MULTILINE).groups()
    assert inside == "0" and int(outside) > 0, shown
    assert int(re.search(r"^procs-(\d+)-end", shown, re.MULTILINE).group(1)) < 20, "the host's processes are visible"
    page.screenshot(path=screenshots / "terminal-container.png")


def test_vim_is_intact_after_a_page_reload(student_page):
    page = student_page
    open_terminal(page)
    run(page, "vim")
    wait_for_screen(page, r"^~\s*$")
    page.keyboard.type("ihello from before the reload")
    page.keyboard.press("Escape")
    wait_for_screen(page, r"^hello from before the reload")

    page.reload()
    wait_connected(page)
    wait_for_screen(page, r"^hello from before the reload")
    wait_for_screen(page, r"^~\s*$")

    page.locator("[data-screen]").click()
    page.keyboard.type(":q!")
    page.keyboard.press("Enter")
    wait_for_prompt(page)
    run(page, "echo vim-gone-$((6*7))")
    wait_for_screen(page, r"^vim-gone-42")


def test_a_running_job_survives_a_web_server_restart(student_page, web):
    page = student_page
    open_terminal(page)
    run(page, "echo shell-$$")
    wait_for_screen(page, r"^shell-\d+")
    shell_pid = re.search(r"^shell-(\d+)", screen(page), re.MULTILINE).group(1)
    # The marker shows the line reached the shell: keys still in flight when the server
    # stops are lost, as a person would expect.
    run(page, "echo sleeping-$((6*7)); sleep 300")
    wait_for_screen(page, r"^sleeping-42")

    web.stop()
    expect(page.locator("[data-terminal]")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("[data-status]")).to_contain_text("reconnecting")
    web.start()
    wait_connected(page, timeout=60)

    page.locator("[data-screen]").click()
    page.keyboard.press("Control+z")
    wait_for_screen(page, r"Stopped\s+sleep 300")
    run(page, "clear; jobs; echo shell-$$")
    wait_for_screen(page, r"^\[1\]\+\s+Stopped\s+sleep 300")
    wait_for_screen(page, rf"^shell-{shell_pid}$")
    run(page, "kill %1")


def test_ctrl_c_stops_a_flood_of_output(student_page):
    page = student_page
    open_terminal(page)
    run(page, "yes")
    wait_for_screen(page, r"^y\n(y\n){10}")
    page.keyboard.press("Control+c")
    run(page, "clear; echo after-yes-$((6*7))")
    wait_for_screen(page, r"^after-yes-42", timeout=30)


def test_an_instructor_watches_read_only_and_the_student_is_told(browser, web, cohort, student_page, screenshots):
    student, instructor = cohort
    page = student_page
    open_terminal(page)
    watching = page.locator("[data-watched]")
    expect(watching).to_be_hidden()

    shadow = signed_in(browser, web, instructor.user)
    try:
        shadow.get_by_role("link", name="Watch terminal").click()
        expect(shadow).to_have_url(f"{web.url}/terminal/watch/{student.student_id}/")
        name = student.user.get_full_name()
        expect(shadow.get_by_role("heading", name=f"Read-only view of {name}'s terminal")).to_be_visible()
        wait_connected(shadow)
        expect(watching).to_have_text("An instructor is watching")
        expect(watching).to_be_visible()

        page.locator("[data-screen]").click()
        run(page, "echo shadow-check-123")
        wait_for_screen(shadow, r"shadow-check-123")

        # What the instructor types goes nowhere.
        shadow.locator("[data-screen]").click()
        run(shadow, "echo intruder-$((6*7))")
        run(page, "echo student-again-$((6*7))")
        wait_for_screen(page, r"^student-again-42")
        assert "intruder" not in screen(page)

        shadow.screenshot(path=screenshots / "terminal-watch.png")
        page.screenshot(path=screenshots / "terminal-student-watched.png")
    finally:
        shadow.context.close()
    expect(watching).to_be_hidden()


def test_another_user_may_not_watch_the_students_terminal(browser, web, cohort, django_user_model):
    student, _ = cohort
    outsider = django_user_model.objects.create_user(username="outsider", password=PASSWORD)
    page = signed_in(browser, web, outsider)
    try:
        response = page.goto(f"{web.url}/terminal/watch/{student.student_id}/")
        assert response.status == 403
        expect(page.get_by_text("Only the instructors of this student's cohort may watch")).to_be_visible()
        expect(page.locator("[data-terminal]")).to_have_count(0)
    finally:
        page.context.close()


def test_the_student_resets_their_environment_and_gets_a_fresh_shell(student_page, celery_worker_process):
    page = student_page
    open_terminal(page)
    run(page, "export MARK=kept; kubectl create configmap before-reset")
    wait_for_screen(page, r"configmap/before-reset created")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reset my environment").click()
    expect(page.locator("[data-notice]")).to_contain_text("Resetting your environment")
    wait_connected(page, timeout=90)

    page.locator("[data-screen]").click()
    run(page, "echo mark-${MARK:-gone}; kubectl get configmap before-reset")
    wait_for_screen(page, r"^mark-gone")
    wait_for_screen(page, r'configmaps "before-reset" not found')


# Where a run of text is on the terminal, in page pixels: {x, y, width, cell} of its
# first occurrence on screen that is not a typed command, from xterm.js's cell size.
TEXT_BOX = """(text) => {
  const term = window.labTerminal;
  const box = term.element.querySelector(".xterm-screen").getBoundingClientRect();
  const cellWidth = box.width / term.cols, cellHeight = box.height / term.rows;
  const buffer = term.buffer.active;
  for (let row = 0; row < term.rows; row++) {
    const line = buffer.getLine(buffer.viewportY + row).translateToString(true);
    const col = line.indexOf(text);
    if (col >= 0 && !line.includes("echo")) {
      return {
        x: box.left + col * cellWidth, y: box.top + (row + 0.5) * cellHeight,
        width: text.length * cellWidth, cell: cellWidth,
      };
    }
  }
  return null;
}"""


def drag_across(page, text: str, *, shift: bool) -> None:
    """Shift: xterm.js's own selection, which ends at the nearest cell edge. Without:
    tmux's, which takes the cell under the pointer too, so the drag ends on the last
    character (one further, past the line's end, takes its newline)."""
    box = page.evaluate(TEXT_BOX, text)
    assert box, screen(page)
    end = box["x"] + box["width"] - (2 if shift else box["cell"] / 2)
    if shift:
        page.keyboard.down("Shift")
    page.mouse.move(box["x"] + 2, box["y"])
    page.mouse.down()
    page.mouse.move(end, box["y"], steps=8)
    page.mouse.up()
    if shift:
        page.keyboard.up("Shift")


def wait_for_clipboard(page, text: str) -> None:
    wait_for(f"{text!r} in the clipboard", lambda: page.evaluate("navigator.clipboard.readText()") == text, timeout=15)


def test_copy_and_paste_go_through_the_clipboard(browser, web, cohort):
    page = signed_in(browser, web, cohort[0].user, permissions=["clipboard-read", "clipboard-write"])
    try:
        open_terminal(page)

        page.evaluate("navigator.clipboard.writeText('echo pasted-$((6*7))')")
        page.keyboard.press("Control+Shift+V")
        wait_for_screen(page, r"\$ echo pasted-\$\(\(6\*7\)\)$")  # reading the clipboard takes a moment
        page.keyboard.press("Enter")
        wait_for_screen(page, r"^pasted-42")

        run(page, "clear; echo copy-me-please")
        wait_for_screen(page, r"^copy-me-please")
        drag_across(page, "copy-me-please", shift=True)
        page.keyboard.press("Control+Shift+C")
        wait_for_clipboard(page, "copy-me-please")

        page.evaluate("navigator.clipboard.writeText('echo right-clicked-$((6*7))')")
        page.locator("[data-screen]").click(button="right")
        wait_for_screen(page, r"\$ echo right-clicked-\$\(\(6\*7\)\)$")
        page.keyboard.press("Enter")
        wait_for_screen(page, r"^right-clicked-42")
    finally:
        page.context.close()


def test_a_selection_in_tmux_reaches_the_clipboard(browser, web, cohort):
    page = signed_in(browser, web, cohort[0].user, permissions=["clipboard-read", "clipboard-write"])
    try:
        open_terminal(page)
        run(page, "clear; echo copy-me-please")
        wait_for_screen(page, r"^copy-me-please")
        page.evaluate("navigator.clipboard.writeText('')")
        drag_across(page, "copy-me-please", shift=False)
        wait_for_clipboard(page, "copy-me-please")
    finally:
        page.context.close()
