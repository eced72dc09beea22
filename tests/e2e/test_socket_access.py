"""Sockets closed when access ends, as the person sees it in real Chromium through daphne:
signing out in another tab closes the lesson page's terminal and live events, each saying
why, and the shell is there again after signing in; the terminal past the cap says why
and opens once another tab closes; an instructor removed from the cohort sees their
dashboard and watch stop, saying why."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.lesson_pages import PASSWORD, SCREEN, wait_for_screen
from tests.lessons_rows import course_with_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]

CLOSED_WAIT_MS = 20_000  # a bound on waiting, never an expectation of how long it takes


def sign_in(page, web: str, user) -> None:
    page.goto(web + "/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(web + "/")


def signed_in(browser, web: str, user):
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_in(page, web, user)
    return page


def wait_connected(page) -> None:
    expect(page.locator("[data-terminal]")).to_have_attribute("data-state", "connected", timeout=30_000)


def shell_identity(page) -> str:
    """A random number the shell keeps once drawn (not its PID: every new shell's PID
    namespace gives it the same one)."""
    page.locator("[data-terminal] .xterm-helper-textarea").focus()
    page.keyboard.type("clear; echo shell-${SHELL_ID:=$RANDOM$RANDOM}-end\n", delay=2)
    wait_for_screen(page, r"^shell-\d+-end")
    return re.search(r"^shell-(\d+)-end", page.evaluate(SCREEN), re.MULTILINE).group(1)


def test_signing_out_in_another_tab_closes_the_lesson_pages_sockets_saying_why(browser, web, cohort):
    student, _ = cohort
    task = course_with_task()
    lesson = f"{web}/learn/{task.lesson.course.slug}/{task.lesson.slug}/"
    page = signed_in(browser, web, student.user)
    try:
        page.goto(lesson)
        wait_connected(page)
        expect(page.locator("html")).to_have_attribute("data-events-state", "live")
        before = shell_identity(page)

        other = page.context.new_page()
        other.goto(web + "/")
        other.get_by_role("button", name="Sign out").click()

        terminal = page.locator("[data-terminal]")
        expect(terminal).to_have_attribute("data-state", "ended", timeout=CLOSED_WAIT_MS)
        expect(page.locator("[data-status]")).to_have_text(
            "You signed out, so this terminal is closed. Your shell keeps running for a while: "
            "sign in again to get back to it."
        )
        expect(page.locator("[data-reconnect]")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("data-events-state", "closed", timeout=CLOSED_WAIT_MS)
        expect(page.locator("[data-signed-out]")).to_have_text(
            "You signed out, so this page no longer updates live. Sign in again to continue."
        )

        sign_in(other, web, student.user)
        page.goto(lesson)
        wait_connected(page)
        assert shell_identity(page) == before
    finally:
        page.context.close()


def test_the_terminal_past_the_cap_says_why_and_opens_once_a_tab_closes(browser, web, cohort):
    student, _ = cohort
    first = signed_in(browser, web, student.user)
    context = first.context
    try:
        pages = [first, *[context.new_page() for _ in range(3)]]
        for page in pages:
            if page is not first:
                page.goto(web + "/")
            wait_connected(page)  # the web server's TERMINAL_SOCKETS_PER_STUDENT: the default, 4
        extra = context.new_page()
        extra.goto(web + "/")
        expect(extra.locator("[data-terminal]")).to_have_attribute("data-state", "ended", timeout=CLOSED_WAIT_MS)
        expect(extra.locator("[data-status]")).to_have_text(
            "Too many terminals open: you have 4 terminals open already, the most at once. "
            "Close one in another tab, then Reconnect."
        )
        pages[0].close()
        # The slot is given back once the server sees that tab's socket close.
        for _ in range(20):
            extra.locator("[data-reconnect]").click()
            terminal = extra.locator("[data-terminal]")
            expect(terminal).not_to_have_attribute("data-state", "connecting")
            if terminal.get_attribute("data-state") == "connected":
                break
            extra.wait_for_timeout(500)
        wait_connected(extra)
    finally:
        context.close()


def test_an_instructor_removed_from_the_cohort_sees_the_dashboard_and_watch_stop(browser, web, cohort):
    student, instructor = cohort
    teacher = signed_in(browser, web, instructor.user)
    try:
        teacher.goto(f"{web}/teach/{student.cohort.slug}/")
        expect(teacher.locator("[data-live]")).to_have_text("· live")
        watch = teacher.context.new_page()
        watch.goto(f"{web}/terminal/watch/{student.student_id}/")
        wait_connected(watch)

        # What the admin's Enrollment form saves (tests/integration covers the form itself).
        instructor.dropped_at = timezone.now()
        instructor.save()

        expect(teacher.locator("[data-live]")).to_have_text(
            "· not live: you no longer teach this cohort", timeout=CLOSED_WAIT_MS
        )
        expect(watch.locator("[data-terminal]")).to_have_attribute("data-state", "ended", timeout=CLOSED_WAIT_MS)
        expect(watch.locator("[data-status]")).to_have_text(
            "Only the instructors of this student's cohort may watch this terminal."
        )
    finally:
        teacher.context.close()
