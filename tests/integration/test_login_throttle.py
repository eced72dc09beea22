"""Sign-in throttling (django-axes) through the real sign-in page on PostgreSQL: after
LOGIN_FAILURE_LIMIT wrong passwords one username is locked out from one address, even
with the right password, with a page that says so; other users and other addresses are
not; an admin unlocks it, and it ends by itself after the cool-off."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-demo-password"
ADDRESS = "198.51.100.7"


@pytest.fixture
def users(django_user_model):
    for name in ("sam", "kim"):
        django_user_model.objects.create_user(username=name, password=PASSWORD)
    admin = django_user_model.objects.create_superuser(username="root", password=PASSWORD)
    return admin


@pytest.fixture(scope="module")
def browsers() -> dict[str, Client]:
    """One client per address for the module, signed out before each use: a new client
    loads the middleware, and WhiteNoise's scan of every static file takes seconds."""
    return {}


@pytest.fixture
def sign_in(browsers):
    """Signs in as a browser at `address` posts the form: (the answer, that browser)."""

    def sign_in(username: str, password: str, *, address: str = ADDRESS, path: str = "/login/"):
        browser = browsers.setdefault(address, Client(REMOTE_ADDR=address))
        browser.logout()
        return browser.post(path, {"username": username, "password": password}), browser

    return sign_in


def signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


@pytest.fixture
def fail(sign_in):
    def fail(username: str, times: int, **kwargs) -> None:
        for _ in range(times):
            answer, _ = sign_in(username, "wrong-password", **kwargs)
            assert answer.status_code in (200, 429)

    return fail


def test_the_defaults_are_five_failures_and_fifteen_minutes():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_wrong_passwords_below_the_limit_say_only_that_the_password_is_wrong(users, sign_in, fail):
    fail("sam", settings.AXES_FAILURE_LIMIT - 2)
    answer, _ = sign_in("sam", "wrong-password")
    assert answer.status_code == 200
    assert "Please enter a correct username and password" in answer.content.decode()
    answer, client = sign_in("sam", PASSWORD)
    assert answer.status_code == 302 and signed_in(client)


def test_after_the_limit_the_right_password_is_refused_with_the_reason(users, sign_in, fail):
    fail("sam", settings.AXES_FAILURE_LIMIT - 1)
    last, _ = sign_in("sam", "wrong-password")
    assert last.status_code == 429
    answer, client = sign_in("sam", PASSWORD)
    assert answer.status_code == 429
    html = answer.content.decode()
    assert "Signing in as “sam” from your address is locked after 5 wrong passwords." in html
    assert "Try again in 15 minutes, or ask an admin to unlock it." in html
    assert 'role="alert"' in html and 'value="sam"' in html and "Sign in" in html
    assert "Traceback" not in html and "Please enter a correct" not in html
    assert not signed_in(client)
    # Tries while locked out are not counted: the lockout still ends 15 minutes after the fifth.
    assert AccessAttempt.objects.get(username="sam").failures_since_start == settings.AXES_FAILURE_LIMIT


def test_another_user_and_another_address_are_not_locked_out(users, sign_in, fail):
    fail("sam", settings.AXES_FAILURE_LIMIT)
    answer, client = sign_in("kim", PASSWORD)
    assert answer.status_code == 302 and signed_in(client)
    answer, client = sign_in("sam", PASSWORD, address="203.0.113.9")
    assert answer.status_code == 302 and signed_in(client)
    assert sign_in("sam", PASSWORD)[0].status_code == 429


def test_a_success_before_the_limit_starts_the_count_again(users, sign_in, fail):
    fail("sam", settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("sam", PASSWORD)[0].status_code == 302
    fail("sam", settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("sam", PASSWORD)[0].status_code == 302


def test_an_admin_unlocks_with_the_command(users, sign_in, fail):
    fail("sam", settings.AXES_FAILURE_LIMIT)
    assert sign_in("sam", PASSWORD)[0].status_code == 429
    call_command("axes_reset_username", "sam")
    answer, client = sign_in("sam", PASSWORD)
    assert answer.status_code == 302 and signed_in(client)


def test_an_admin_sees_the_lockout_and_unlocks_it_in_the_admin(users, sign_in, fail):
    fail("sam", settings.AXES_FAILURE_LIMIT)
    _, admin = sign_in("root", PASSWORD, address="192.0.2.1")
    assert signed_in(admin)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "sam" in listing.content.decode()
    attempt = AccessAttempt.objects.get(username="sam")
    deleted = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert sign_in("sam", PASSWORD)[0].status_code == 302


def test_the_lockout_ends_after_the_cool_off(users, sign_in, fail):
    fail("sam", settings.AXES_FAILURE_LIMIT)
    assert sign_in("sam", PASSWORD)[0].status_code == 429
    # As if the last failure had been 15 minutes and a second ago.
    attempt = AccessAttempt.objects.get(username="sam")
    attempt.attempt_time -= settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
    attempt.save()
    assert sign_in("sam", PASSWORD)[0].status_code == 302


def test_the_admin_sign_in_is_throttled_the_same_way(users, sign_in, fail):
    fail("root", settings.AXES_FAILURE_LIMIT, path="/admin/login/")
    answer, client = sign_in("root", PASSWORD, path="/admin/login/")
    assert answer.status_code == 429
    assert "Signing in as “root” from your address is locked" in answer.content.decode()
    assert client.get("/admin/").status_code == 302


def test_an_unknown_username_is_locked_out_with_the_same_words(users, sign_in, fail):
    """The page says the same whether the username exists or not."""
    fail("nobody", settings.AXES_FAILURE_LIMIT)
    answer, _ = sign_in("nobody", PASSWORD)
    assert answer.status_code == 429
    assert "Signing in as “nobody” from your address is locked" in answer.content.decode()
