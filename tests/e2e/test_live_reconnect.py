"""The pages that are pushed to (labSocket, labplatform/static/js/socket.js) in real
Chromium across a restart of the web server: each shows that it is reconnecting, comes
back live by itself, and then shows what is pushed, with no reload. The dashboard also
catches up on what changed while it was down."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from playwright.sync_api import expect

from labplatform.environments.progress import provisioning_push
from lessons.events import task_state_push
from lessons.models import TaskProgress
from tests.e2e.lesson_pages import PASSWORD
from tests.lessons_rows import course_with_task
from tests.processes import WebServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]
TEXT = "Back after the restart: the room's pages reconnected."


@pytest.fixture(scope="module")
def web(django_db_setup):
    server = WebServer("e2e-reconnect-web")
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


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


def test_pushed_pages_reconnect_after_a_web_server_restart(browser, web, cohort, django_user_model, screenshots):
    student, _ = cohort
    slug = student.cohort.slug
    task = course_with_task()
    key = f"{task.lesson.slug}/{task.slug}"
    django_user_model.objects.create_user(username="root", password=PASSWORD, is_staff=True, first_name="Ada")
    environment = student.environment

    student_context = browser.new_context(viewport={"width": 1366, "height": 800})
    staff_context = browser.new_context(viewport={"width": 1366, "height": 800})
    try:
        # The student's page listens on the events socket (banners.js), the staff's on the
        # dashboard's and the provisioning progress's.
        home = signed_in(student_context, web, student.user.username)
        events_state = home.locator("html")
        expect(events_state).to_have_attribute("data-events-state", "live")
        home.evaluate("window.loadedOnce = true")  # gone if the page reloads

        dashboard = signed_in(staff_context, web, "root")
        dashboard.goto(f"{web.url}/teach/{slug}/")
        dashboard_live = dashboard.locator("#heatmap [data-live]")
        expect(dashboard_live).to_have_text("· live")
        cell = dashboard.locator(f'tr[data-student="{student.student_id}"] td[data-task="{key}"]')
        expect(cell).to_have_class(re.compile(r"\bnot_started\b"))
        dashboard.evaluate("window.loadedOnce = true")

        progress = staff_context.new_page()
        progress.set_default_timeout(20_000)
        progress.goto(f"{web.url}/staff/cohorts/{slug}/")
        progress_live = progress.locator("#progress [data-live]")
        expect(progress_live).to_have_text("· live")
        row = progress.locator(f'tr[data-namespace="{environment.namespace}"]')
        expect(row.locator("[data-state]")).to_have_text("Ready")
        progress.evaluate("window.loadedOnce = true")

        web.stop()
        expect(events_state).to_have_attribute("data-events-state", "reconnecting")
        expect(dashboard_live).to_have_text("· reconnecting…")
        expect(dashboard_live).to_have_attribute("data-socket-state", "reconnecting")
        expect(progress_live).to_have_text("· reconnecting…")
        # Opened while the server is down: nothing can push it, so the dashboard must ask.
        opened = TaskProgress.objects.create(enrollment=student, task=task)
        web.start()

        # Back by themselves (the backoff is at most a few seconds this early).
        expect(events_state).to_have_attribute("data-events-state", "live", timeout=30_000)
        expect(dashboard_live).to_have_text("· live", timeout=30_000)
        expect(progress_live).to_have_text("· live", timeout=30_000)
        expect(cell).to_have_class(re.compile(r"\bopen\b"))
        expect(cell).to_have_text("○")

        # Pushed after the restart, drawn with the words the page rendered (json_script).
        TaskProgress.objects.filter(pk=opened.pk).update(state="failed", attempts_count=2)
        beside_playwright(lambda: task_state_push(progress=TaskProgress.objects.get(pk=opened.pk)))
        expect(cell).to_have_text("✗2")
        expect(cell).to_have_attribute("title", "failed (2 Checks)")
        dashboard.screenshot(path=screenshots / "reconnect-dashboard.png", full_page=True)

        type(environment).objects.filter(pk=environment.pk).update(state="failed", last_error="Quota exceeded (test)")
        beside_playwright(
            lambda: provisioning_push(
                cohort=student.cohort, environment=type(environment).objects.get(pk=environment.pk)
            )
        )
        expect(row.locator("[data-state]")).to_have_text("Failed")
        expect(row.locator("[data-error]")).to_have_text("Quota exceeded (test)")
        expect(progress.locator('#progress [data-count="failed"]')).to_have_text("1")

        for page in (home, dashboard, progress):
            assert page.evaluate("window.loadedOnce") is True  # nothing was reloaded

        # An announcement posted after the restart reaches the student's open page.
        progress.get_by_label(f"Message to every student of {student.cohort.name}").fill(TEXT)
        progress.get_by_role("button", name="Announce").click()
        expect(progress.get_by_text(f"Announced to the students of {student.cohort.name}.")).to_be_visible()
        expect(progress_live).to_have_text("· live")  # the page the form reloaded is live too
        progress.screenshot(path=screenshots / "reconnect-cohort-page.png", full_page=True)
        expect(home.locator("[data-banners] .banner-announcement")).to_contain_text(TEXT)
        assert home.evaluate("window.loadedOnce") is True
        home.screenshot(path=screenshots / "reconnect-student-home.png")
    finally:
        type(environment).objects.filter(pk=environment.pk).update(state="ready", last_error="")
        student_context.close()
        staff_context.close()
