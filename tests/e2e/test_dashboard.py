"""The instructor's dashboard in real Chromium: it is open while a student passes a check
in their own browser, the student's cell turns green without a reload, and from the
student's drill-down the instructor opens the read-only terminal and sees them type."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.lesson_pages import PASSWORD, wait_for_screen
from tests.lessons_rows import course_with_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]


def signed_in(browser, web: str, user):
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(web + "/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(web + "/")
    return page


def type_line(page, line: str) -> None:
    page.locator("[data-terminal] .xterm-helper-textarea").focus()
    page.keyboard.type(line + "\n", delay=2)


@pytest.mark.usefixtures("celery_worker_process")
def test_the_dashboard_turns_a_cell_green_live_and_the_instructor_watches_the_terminal(
    browser, web, cohort, screenshots
):
    student, instructor = cohort
    task = course_with_task()
    key = f"{task.lesson.slug}/{task.slug}"
    teacher = signed_in(browser, web, instructor.user)
    learner = signed_in(browser, web, student.user)
    try:
        teacher.get_by_role("link", name="Open its dashboard").click()
        expect(teacher).to_have_url(f"{web}/teach/{student.cohort.slug}/")
        expect(teacher.locator("[data-live]")).to_have_text("· live")
        cell = teacher.locator(f'tr[data-student="{student.student_id}"] td[data-task="{key}"]')
        expect(cell).to_have_class(re.compile(r"\bnot_started\b"))
        marker = teacher.evaluate("() => (window.unreloaded = 'still the same page')")

        learner.goto(f"{web}/learn/{task.lesson.course.slug}/{task.lesson.slug}/")
        expect(learner.locator("[data-terminal]")).to_have_attribute("data-state", "connected", timeout=30_000)
        card = learner.locator(f"#task-{task.slug}")
        card.get_by_role("button", name="Start task").click()
        expect(cell).to_have_class(re.compile(r"\bopen\b"))
        # The card is drawn again when its setup is done, and the page moves the focus to
        # its Check button: type only after that, or the keys go to the button.
        expect(card.get_by_role("button", name="Check")).to_be_focused()
        type_line(learner, "kubectl create deployment web --image=nginx:1.27 --replicas=3 && echo made-$((6*7))")
        wait_for_screen(learner, r"^made-42$", timeout=60)
        learner.wait_for_timeout(3000)  # the check interval
        card.get_by_role("button", name="Check").click()
        expect(card.locator("[data-badge]")).to_have_text("Passed", timeout=60_000)

        expect(cell).to_have_class(re.compile(r"\bpassed\b"), timeout=10_000)
        expect(cell).to_have_text("✓")
        expect(teacher.locator("[data-completion]")).to_have_text("100.0")
        assert teacher.evaluate("() => window.unreloaded") == marker  # no reload happened
        teacher.screenshot(path=screenshots / "dashboard-live.png", full_page=True)

        teacher.get_by_role("link", name=student.user.get_full_name()).click()
        expect(teacher.get_by_role("heading", name=re.compile(student.user.get_full_name()))).to_be_visible()
        expect(teacher.get_by_text("Every check passed.")).to_be_visible()
        teacher.screenshot(path=screenshots / "dashboard-student.png", full_page=True)
        teacher.get_by_role("link", name="Watch their terminal (read-only)").click()
        expect(teacher).to_have_url(f"{web}/terminal/watch/{student.student_id}/")
        expect(teacher.locator("[data-terminal]")).to_have_attribute("data-state", "connected", timeout=30_000)
        type_line(learner, "echo typed-for-the-instructor-$((6*7))")
        wait_for_screen(teacher, r"typed-for-the-instructor-42")
        teacher.screenshot(path=screenshots / "dashboard-shadow.png")
    finally:
        teacher.context.close()
        learner.context.close()
