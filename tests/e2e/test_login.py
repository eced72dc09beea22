"""Signing in, in real Chromium, through the ASGI server."""

import pytest
from django.conf import settings
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def student(django_user_model):
    return django_user_model.objects.create_user(
        username="sam", password="a-long-demo-password", first_name="Sam", last_name="Student"
    )


def test_a_user_signs_in_and_sees_the_home_page(page, live_server_url, student, screenshots):
    page.goto(live_server_url + "/")
    expect(page).to_have_url(live_server_url + "/login/?next=/")
    page.screenshot(path=screenshots / "login.png")

    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("a-long-demo-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(live_server_url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Sam")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.screenshot(path=screenshots / "home.png", full_page=True)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(live_server_url + "/login/")


def test_a_wrong_password_is_refused_with_a_message(page, live_server_url, student):
    page.goto(live_server_url + "/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(live_server_url + "/login/")


def test_repeated_wrong_passwords_lock_the_username_with_a_message(
    page, live_server_url, student, django_user_model, screenshots
):
    """Through daphne (axes' middleware runs on its async path there): five wrong passwords,
    then the right one is refused with the reason on the sign-in page; another user is not."""
    django_user_model.objects.create_user(username="kim", password="a-long-demo-password", first_name="Kim")

    def sign_in(username: str, password: str) -> None:
        page.goto(live_server_url + "/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()

    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("sam", "not-the-password")
        expect(page.get_by_role("alert")).to_be_visible()
    sign_in("sam", "a-long-demo-password")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Signing in as “sam” from your address is locked after 5 wrong passwords.")
    expect(alert).to_contain_text("ask an admin to unlock it")
    expect(page.get_by_label("Username")).to_have_value("sam")
    page.screenshot(path=screenshots / "login-locked.png")
    page.goto(live_server_url + "/")
    expect(page).to_have_url(live_server_url + "/login/?next=/")

    sign_in("kim", "a-long-demo-password")
    expect(page).to_have_url(live_server_url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Kim")
