"""A student's lesson page in real Chromium, through daphne, a real Celery worker and the
local cluster: a command pasted into the terminal, a task started and checked, per-check
feedback pushed live, a rate-limited Check, the polling fallback when no push comes, and a
mermaid diagram drawn."""

import textwrap
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lessons.loading import course_load
from tests.e2e.lesson_pages import PASSWORD, provision_beside_playwright, wait_for_screen

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]

COURSE = "e2e-configmaps"
LESSON = "1.1-configmaps"
COMMAND = "kubectl create configmap greeting --from-literal=message=hello"

COURSE_FILES = {
    "course.yaml": """
        slug: e2e-configmaps
        title: "E2E: ConfigMaps"
        description: A one-lesson course for the browser tests.
        lessons:
          - 1.1-configmaps
    """,
    "1.1-configmaps/lesson.md": f"""
        # 1.1 ConfigMaps

        A ConfigMap holds settings for your pods.

        ```mermaid
        flowchart LR
            CM["ConfigMap greeting"] --> P["Pod"]
        ```

        Make one:

        ```bash run
        {COMMAND}
        ```
    """,
    "1.1-configmaps/tasks.yaml": """
        tasks:
          - id: greeting
            title: Create the greeting ConfigMap
            instructions: |
              Create a ConfigMap named `greeting` whose key `message` is `hello`.
            hints:
              - The command in the lesson does it.
            checks:
              - title: ConfigMap greeting says hello
                target: {kind: ConfigMap, name: greeting}
                assert:
                  - path: data.message
                    op: "=="
                    value: hello
            solution:
              commands: |
                kubectl create configmap greeting --from-literal=message=hello
    """,
}


@pytest.fixture
def course(tmp_path: Path):
    for name, text in COURSE_FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    course_load(path=tmp_path)


@pytest.fixture
def student(make_cohort, course):
    cohort = make_cohort(students=1)
    cohort.course = COURSE
    cohort.save()
    (student,) = provision_beside_playwright(cohort)
    student.user.set_password(PASSWORD)
    student.user.save()
    return student


@pytest.fixture
def lesson_page(browser, web, student):
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(web + "/login/")
    page.get_by_label("Username").fill(student.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(web + "/")
    yield page
    context.close()


def open_lesson(page, web: str) -> None:
    page.get_by_role("link", name="Continue the course").click()
    page.get_by_role("link", name="1.1 ConfigMaps").first.click()
    expect(page).to_have_url(f"{web}/learn/{COURSE}/{LESSON}/")
    expect(page.get_by_role("heading", name="1.1 ConfigMaps", level=1)).to_be_visible()
    expect(page.locator("[data-terminal]")).to_have_attribute("data-state", "connected", timeout=20_000)


def start_task(page):
    card = page.locator("#task-greeting")
    expect(card.locator("[data-badge]")).to_have_text("Not started")
    card.get_by_role("button", name="Start task").click()
    expect(card.get_by_role("button", name="Check")).to_be_visible()
    expect(card.locator("[data-badge]")).to_have_text("Not checked yet")
    return card


def test_a_student_pastes_a_command_and_sees_each_check_live(lesson_page, web, celery_worker_process, screenshots):
    page = lesson_page
    pushed = []

    def listen(socket):
        if "/ws/events/" in socket.url:
            socket.on("framereceived", lambda frame: pushed.append(frame))

    page.on("websocket", listen)
    open_lesson(page, web)
    expect(page.locator("pre.mermaid svg")).to_be_visible()
    card = start_task(page)

    card.get_by_role("button", name="Check").click()
    results = card.locator("[data-results]")
    expect(results).to_contain_text("ConfigMap greeting: not found", timeout=20_000)
    expect(results.locator(".check-failed")).to_have_count(1)
    expect(card.locator("[data-badge]")).to_have_text("Not passed yet")
    assert any('"type": "attempt"' in frame or '"type":"attempt"' in frame for frame in pushed), pushed

    # A second Check at once is refused, and the page says why.
    card.get_by_role("button", name="Check").click()
    expect(card.locator("[data-task-error]")).to_contain_text("You just checked; wait")
    card.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "lesson-task-failed.png")

    page.get_by_role("button", name="Paste into terminal").click()
    wait_for_screen(page, r"\$ " + COMMAND.replace(".", r"\.") + "$")  # pasted, not yet run
    page.keyboard.press("Enter")  # the terminal has the focus
    wait_for_screen(page, r"configmap/greeting created")

    page.wait_for_timeout(3000)  # the check interval (LESSONS_CHECK_INTERVAL_SECONDS)
    card.get_by_role("button", name="Check").click()
    expect(results.locator(".check-passed")).to_have_count(1, timeout=20_000)
    expect(results).to_contain_text("ConfigMap greeting says hello")
    expect(card.locator("[data-badge]")).to_have_text("Passed")
    expect(card.locator("[data-history] li")).to_have_count(2)
    card.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "lesson-task-passed.png")


def test_results_arrive_by_polling_when_no_push_comes(lesson_page, web, celery_worker_process, screenshots):
    page = lesson_page
    polled = []
    # A socket that opens and never says anything: pushes are lost, as behind a broken proxy.
    page.route_web_socket("**/ws/events/", lambda ws: None)
    page.on("request", lambda request: polled.append(request.url) if "/learn/attempts/" in request.url else None)
    open_lesson(page, web)
    card = start_task(page)
    card.get_by_role("button", name="Check").click()
    expect(card.locator("[data-check-status]")).to_have_text("Checking…")
    expect(card.locator("[data-results]")).to_contain_text("ConfigMap greeting: not found", timeout=20_000)
    expect(card.get_by_role("button", name="Check")).to_be_enabled()
    assert polled, "the result came without a poll, so the socket was not silenced"


def test_the_outline_and_the_lesson_with_its_diagram(lesson_page, web, screenshots):
    page = lesson_page
    page.get_by_role("link", name="Continue the course").click()
    expect(page.get_by_role("heading", name="E2E: ConfigMaps")).to_be_visible()
    page.screenshot(path=screenshots / "lesson-outline.png")
    page.get_by_role("link", name="1.1 ConfigMaps").first.click()
    expect(page.locator("pre.mermaid svg")).to_be_visible()
    page.screenshot(path=screenshots / "lesson-page.png")

    # Without a terminal the button falls back to the clipboard, and says so.
    page.evaluate("delete window.labTerminal")
    page.get_by_role("button", name="Paste into terminal").click()
    expect(page.locator(".command-note")).to_contain_text("There is no terminal on this page")
