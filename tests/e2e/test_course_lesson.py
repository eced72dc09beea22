"""One lesson of the real course, played by a student in Chromium: 15.7 Deployments, every
task started, solved by typing its reference solution into the browser terminal, and
checked with the Check button until it shows Passed."""

import pytest
from playwright.sync_api import expect

from lessons.loading import course_load
from lessons.loading.course_files import course_read
from tests.e2e.lesson_pages import PASSWORD, provision_beside_playwright, wait_for_screen
from tests.lessons import COURSE
from tests.processes import free_port, start_web, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]

LESSON = "15.7-deployments"


@pytest.fixture(scope="module")
def web(django_db_setup):
    """The project's web server with no wait between two Checks: each task is checked
    once its solution has run, as soon as it has."""
    port = free_port()
    server = start_web(port=port, name="e2e-course-web", LESSONS_CHECK_INTERVAL_SECONDS="0")
    yield f"http://127.0.0.1:{port}"
    stop(server)


@pytest.fixture
def student(make_cohort):
    course_load(path=COURSE)
    cohort = make_cohort(students=1)
    cohort.course = course_read(path=COURSE).slug
    cohort.save()
    (student,) = provision_beside_playwright(cohort)
    student.user.set_password(PASSWORD)
    student.user.save()
    return student


def type_commands(page, commands: str, marker: str) -> None:
    """Types each line as a student would, then waits until all have run."""
    page.locator("[data-terminal] .xterm-helper-textarea").focus()
    for line in commands.strip().splitlines():
        page.keyboard.type(line + "\n", delay=2)
    page.keyboard.type(f"echo {marker}\n")
    wait_for_screen(page, f"^{marker}$", timeout=90)


@pytest.mark.usefixtures("celery_worker_process")
def test_a_student_plays_the_deployments_lesson_in_the_browser(browser, web, student, screenshots):
    tasks = next(lesson for lesson in course_read(path=COURSE).lessons if lesson.slug == LESSON).tasks
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(web + "/login/")
    page.get_by_label("Username").fill(student.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{web}/learn/{student.cohort.course}/{LESSON}/")
    expect(page.locator("[data-terminal]")).to_have_attribute("data-state", "connected", timeout=30_000)

    for number, task in enumerate(tasks, start=1):
        card = page.locator(f"#task-{task.slug}")
        card.get_by_role("button", name="Start task").click()
        expect(card.get_by_role("button", name="Check")).to_be_visible()
        type_commands(page, task.spec["solution"]["commands"], marker=f"solved-{number}")
        card.get_by_role("button", name="Check").click()
        expect(card.locator("[data-badge]")).to_have_text("Passed", timeout=60_000)
    card.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "course-lesson-played.png")
    context.close()
