"""Staff post an announcement on the cohort page; a student's open page shows it at once,
beside the warning that the cohort is ending, in real Chromium against daphne and Redis."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from labplatform.cohorts.models import Cohort
from tests.e2e.lesson_pages import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]
TEXT = "Office hours moved to 15:00 today: bring your broken Services."


def sign_in(browser, web: str, username: str):
    page = browser.new_context(viewport={"width": 1366, "height": 800}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{web}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def test_an_announcement_appears_on_a_students_open_page(browser, web, make_cohort, django_user_model, screenshots):
    cohort = make_cohort(students=1)
    Cohort.objects.filter(pk=cohort.pk).update(ends_at=timezone.now() + timedelta(hours=5))
    student = django_user_model.objects.get(username=f"{cohort.slug}-student-0")
    student.set_password(PASSWORD)
    student.save()
    django_user_model.objects.create_user(username="root", password=PASSWORD, is_staff=True, first_name="Ada")

    student_page = sign_in(browser, web, student.username)
    banners = student_page.locator("[data-banners]")
    expect(banners.locator(".banner-ending")).to_contain_text("This cohort ends on")
    student_page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    staff_page = sign_in(browser, web, "root")
    staff_page.goto(f"{web}/staff/cohorts/{cohort.slug}/")
    expect(staff_page.locator("#dates [data-lifecycle]")).to_contain_text("Its students see a banner")
    staff_page.get_by_label(f"Message to every student of {cohort.name}").fill(TEXT)
    staff_page.get_by_role("button", name="Announce").click()
    expect(staff_page.get_by_text(f"Announced to the students of {cohort.name}.")).to_be_visible()
    expect(staff_page.locator(".announcement-list")).to_contain_text(TEXT)
    staff_page.screenshot(path=screenshots / "cohort-dates-announcements.png", full_page=True)

    announcement = banners.locator(".banner-announcement")
    expect(announcement).to_contain_text(TEXT)
    expect(announcement).to_contain_text("Ada")
    assert student_page.evaluate("window.loadedOnce") is True
    student_page.screenshot(path=screenshots / "student-banners.png")

    announcement.get_by_role("button", name="Dismiss this announcement").click()
    expect(announcement).to_have_count(0)
    student_page.reload()
    expect(banners.locator(".banner-announcement")).to_contain_text(TEXT)  # dismissed for that view only
