"""An admin imports a roster of 50 from the admin pages, then provisions the cohort and
watches the progress arrive live, in real Chromium against the real stack (daphne,
Redis, a Celery worker and the local cluster)."""

import pytest
from playwright.sync_api import expect

from labplatform.cohorts.models import Cohort, Enrollment
from labplatform.environments.models import StudentEnvironment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]


def roster(count: int) -> bytes:
    lines = ["email,full name"] + [f"learner{i}@example.com,Learner {i}" for i in range(count)]
    lines.append("not-an-email,Broken Row")
    return ("\n".join(lines) + "\n").encode()


def test_an_admin_imports_50_students_and_provisions_them_with_live_progress(
    page, live_server_url, celery_worker_process, django_user_model, make_cohort, screenshots
):
    django_user_model.objects.create_user(
        username="root", password="a-long-admin-password", is_staff=True, is_superuser=True
    )
    cohort = make_cohort(students=0)

    page.goto(f"{live_server_url}/admin/login/?next=/admin/cohorts/cohort/{cohort.pk}/change/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("a-long-admin-password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Import roster").click()
    page.get_by_label("Roster CSV").set_input_files(
        {"name": "roster.csv", "mimeType": "text/csv", "buffer": roster(50)}
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text('"not-an-email" is not a valid email address')).to_be_visible()
    page.screenshot(path=screenshots / "roster-preview.png", full_page=True)
    page.get_by_role("button", name="Import 50 people").click()
    assert Enrollment.objects.filter(cohort=cohort, role="student").count() == 50

    page.goto(f"{live_server_url}/admin/cohorts/cohort/{cohort.pk}/change/")
    page.get_by_role("link", name="Provision & progress").click()
    progress = page.locator("#progress")
    expect(progress.locator("[data-live]")).to_have_text("· live")
    expect(progress.locator('[data-count="total"]')).to_have_text("0")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Provision (and retry failed)").click()
    expect(page.get_by_text("Provisioning 50 environment(s).")).to_be_visible()
    expect(progress.locator("[data-live]")).to_have_text("· live")

    ready = progress.locator('[data-count="ready"]')
    # The page can come back before every environment is ready; the rest arrive over the socket.
    expect(ready).to_have_text("50", timeout=180_000)
    expect(progress.locator('[data-count="total"]')).to_have_text("50")
    expect(page.locator("#environments [data-state]").filter(has_text="Ready")).to_have_count(50)
    page.screenshot(path=screenshots / "cohort-provisioned.png", full_page=True)
    assert StudentEnvironment.objects.filter(enrollment__cohort=cohort, state="ready").count() == 50
    assert Cohort.objects.get(pk=cohort.pk).enrollments.count() == 50
