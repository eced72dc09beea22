"""Real Chromium against the real ASGI server (daphne) on the test database."""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import sync_playwright

from tests.processes import free_port, start_web, stop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="module")
def orm_calls_beside_playwright():
    """Playwright's sync API keeps an event loop running in the test's thread, and Django
    refuses ORM calls where a loop runs unless told the test's own thread may make them.
    Only the end-to-end tests are told; the server under test keeps the real check."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker) -> str:
    port = free_port()
    server = start_web(port=port, name="e2e-web")
    yield f"http://127.0.0.1:{port}"
    stop(server)


# Module scope: Playwright's sync API keeps an event loop running in this thread while
# it is open, which would break asyncio tests that run after it.
@pytest.fixture(scope="module")
def browser():
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not executable:
        pytest.fail("Chromium is needed for the end-to-end tests: apt-get install chromium")
    # Playwright gives each launch a fresh, empty profile directory of its own.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def screenshots() -> Path:
    directory = Path(settings.RUN_DIR) / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def web(django_db_setup):
    """daphne serving the project on a free port, for a module of browser tests."""
    port = free_port()
    server = start_web(port=port, name="e2e-lesson-web")
    yield f"http://127.0.0.1:{port}"
    stop(server)


@pytest.fixture
def cohort(make_cohort):
    """A cohort with one provisioned student and one instructor, both able to sign in
    with PASSWORD: (student enrollment, instructor enrollment)."""
    from tests.e2e.lesson_pages import PASSWORD, provision_beside_playwright

    cohort = make_cohort(students=1, instructors=1)
    (student,) = provision_beside_playwright(cohort)
    instructor = cohort.enrollments.get(role="instructor")
    for enrollment in (student, instructor):
        enrollment.user.set_password(PASSWORD)
        enrollment.user.save()
    return student, instructor
