"""The pages that are pushed to (labSocket, labplatform/static/js/socket.js) in real
Chromium across a restart of the web server: each shows that it is reconnecting, comes
back live by itself, and then shows what is pushed, with no reload. The dashboard also
catches up on what changed while it was down."""

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from django.db import connections
from playwright.sync_api import expect

from labplatform.environments.models import StudentEnvironment
from labplatform.environments.progress import provisioning_push
from lessons.events import task_state_push
from lessons.models import TaskProgress
from tests.e2e.lesson_pages import PASSWORD
from tests.lessons_rows import course_with_task
from tests.processes import WebServer, restartable_web

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]
TEXT = "Back after the restart: the room's pages reconnected."


@pytest.fixture(scope="module")
def web(django_db_setup):
    with restartable_web("e2e-reconnect-web") as server:
        yield server


def beside_playwright(call):
    """Pushes from a thread of their own, as provisioning does (tests/e2e/lesson_pages.py)."""

    def run():
        try:
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def signed_in(context, web: WebServer, username: str):
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(web.url + "/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


@dataclass
class LivePages:
    """The three pushed pages, each open before the restart: the student's home (the events
    socket, banners.js), the cohort's dashboard and its provisioning progress."""

    home: object
    dashboard: object
    progress: object

    @property
    def markers(self):
        """What each page shows of its socket's state, with the value that means it."""
        return [
            (self.home.locator("html"), "data-events-state"),
            (self.dashboard.locator("#heatmap [data-live]"), "data-socket-state"),
            (self.progress.locator("#progress [data-live]"), "data-socket-state"),
        ]

    def expect_state(self, state: str, *, timeout: float = 20_000) -> None:
        for marker, attribute in self.markers:
            expect(marker).to_have_attribute(attribute, state, timeout=timeout)

    def mark_loaded(self) -> None:
        for page in (self.home, self.dashboard, self.progress):
            page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    def none_reloaded(self) -> bool:
        return all(page.evaluate("window.loadedOnce") is True for page in (self.home, self.dashboard, self.progress))


def open_live_pages(student_context, staff_context, web: WebServer, student) -> LivePages:
    home = signed_in(student_context, web, student.user.username)
    dashboard = signed_in(staff_context, web, "root")
    dashboard.goto(f"{web.url}/teach/{student.cohort.slug}/")
    expect(dashboard.locator("#heatmap [data-live]")).to_have_text("· live")
    progress = staff_context.new_page()
    progress.set_default_timeout(20_000)
    progress.goto(f"{web.url}/staff/cohorts/{student.cohort.slug}/")
    expect(progress.locator("#progress [data-live]")).to_have_text("· live")
    pages = LivePages(home=home, dashboard=dashboard, progress=progress)
    pages.expect_state("live")
    pages.mark_loaded()
    return pages


def push_environment_failed(environment: StudentEnvironment) -> None:
    StudentEnvironment.objects.filter(pk=environment.pk).update(state="failed", last_error="Quota exceeded (test)")
    changed = StudentEnvironment.objects.select_related("enrollment__cohort").get(pk=environment.pk)
    beside_playwright(lambda: provisioning_push(cohort=changed.enrollment.cohort, environment=changed))


def test_pushed_pages_reconnect_after_a_web_server_restart(browser, web, cohort, django_user_model, screenshots):
    student, _ = cohort
    task = course_with_task()
    django_user_model.objects.create_user(username="root", password=PASSWORD, is_staff=True, first_name="Ada")
    environment = student.environment
    student_context = browser.new_context(viewport={"width": 1366, "height": 800})
    staff_context = browser.new_context(viewport={"width": 1366, "height": 800})
    try:
        pages = open_live_pages(student_context, staff_context, web, student)
        cell = pages.dashboard.locator(
            f'tr[data-student="{student.student_id}"] td[data-task="{task.lesson.slug}/{task.slug}"]'
        )
        expect(cell).to_have_class(re.compile(r"\bnot_started\b"))
        row = pages.progress.locator(f'tr[data-namespace="{environment.namespace}"]')
        expect(row.locator("[data-state]")).to_have_text("Ready")

        web.stop()
        pages.expect_state("reconnecting")
        expect(pages.dashboard.locator("#heatmap [data-live]")).to_have_text("· reconnecting…")
        expect(pages.progress.locator("#progress [data-live]")).to_have_text("· reconnecting…")
        # Opened while the server is down: nothing can push it, so the dashboard must ask.
        opened = TaskProgress.objects.create(enrollment=student, task=task)
        web.start()

        # Back by themselves (the backoff is at most a few seconds this early), and the
        # dashboard caught up on the cell.
        pages.expect_state("live", timeout=30_000)
        expect(pages.dashboard.locator("#heatmap [data-live]")).to_have_text("· live")
        expect(cell).to_have_class(re.compile(r"\bopen\b"))
        expect(cell).to_have_text("○")

        # Pushed after the restart, drawn with the words the page rendered (json_script).
        TaskProgress.objects.filter(pk=opened.pk).update(state="failed", attempts_count=2)
        beside_playwright(lambda: task_state_push(progress=TaskProgress.objects.get(pk=opened.pk)))
        expect(cell).to_have_text("✗2")
        expect(cell).to_have_attribute("title", "failed (2 Checks)")
        pages.dashboard.screenshot(path=screenshots / "reconnect-dashboard.png", full_page=True)
        push_environment_failed(environment)
        expect(row.locator("[data-state]")).to_have_text("Failed")
        expect(row.locator("[data-error]")).to_have_text("Quota exceeded (test)")
        expect(pages.progress.locator('#progress [data-count="failed"]')).to_have_text("1")
        assert pages.none_reloaded()

        # An announcement posted after the restart reaches the student's open page.
        name = student.cohort.name
        pages.progress.get_by_label(f"Message to every student of {name}").fill(TEXT)
        pages.progress.get_by_role("button", name="Announce").click()
        expect(pages.progress.get_by_text(f"Announced to the students of {name}.")).to_be_visible()
        pages.progress.screenshot(path=screenshots / "reconnect-cohort-page.png", full_page=True)
        expect(pages.home.locator("[data-banners] .banner-announcement")).to_contain_text(TEXT)
        assert pages.home.evaluate("window.loadedOnce") is True
        pages.home.screenshot(path=screenshots / "reconnect-student-home.png")
    finally:
        StudentEnvironment.objects.filter(pk=environment.pk).update(state="ready", last_error="")
        student_context.close()
        staff_context.close()
