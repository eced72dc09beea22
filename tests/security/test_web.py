"""Threat: another site acts with a signed-in user's browser. A page elsewhere posts a form
to the platform (cross-site request forgery), opens a WebSocket with the user's cookie
(cross-site WebSocket hijacking), or reads a session cookie sent over plain HTTP or to a
script.

Every state-changing URL (tests/security/routes.py, which lists every pattern) is posted
by its rightful user with a client that enforces CSRF checks as a browser's request
would meet them: without the token it is refused with 403 and changes nothing; with a
token but a foreign Origin, over HTTPS, likewise; with both right it works (so the 403
was CSRF's). Every socket route refuses a foreign, a missing and a "null" Origin for a
signed-in user whose same-origin socket is accepted. The production overlay's own
settings (k8s/platform/overlays/production/config.yaml) pass `check --deploy`, and the
cookies a sign-in over HTTPS sets carry Secure, HttpOnly and SameSite."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory

from tests.security.routes import ROUTES, SOCKETS, Route, url_patterns
from tests.security.sockets import socket_answer
from tests.security.world import World, victim_state, world_make
from tests.terminals import session_cookie

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_CONFIG = ROOT / "k8s" / "platform" / "overlays" / "production" / "config.yaml"
POSTS = sorted(name for name, route in ROUTES.items() if isinstance(route, Route) and route.method == "POST")
FOREIGN = "https://evil.example"


@pytest.fixture(scope="module")
def csrf_client() -> Client:
    """A client that checks CSRF as a browser's requests meet it (one per module: a new
    client indexes node_modules for WhiteNoise, seconds each)."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def world(db) -> World:
    return world_make()


def signed_in(client: Client, world: World, who: str) -> Client:
    client.cookies.clear()
    client.force_login(world.staff if who == "staff" else getattr(world, who).user)
    return client


def a_csrf_token(client: Client) -> str:
    """A token as the page's form would carry it, with its cookie set in the client."""
    request = RequestFactory().get("/")
    token = get_token(request)
    client.cookies[django_settings.CSRF_COOKIE_NAME] = request.META["CSRF_COOKIE"]
    return token


def test_no_view_is_exempt_from_csrf():
    """csrf_exempt on a view would switch the middleware's check off for it."""
    exempt = sorted(
        name for name, (_, pattern) in url_patterns().items() if getattr(pattern.callback, "csrf_exempt", False)
    )
    assert not exempt, f"views exempt from CSRF: {exempt}"


@pytest.mark.parametrize("name", POSTS)
def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(world, csrf_client, name):
    route: Route = ROUTES[name]
    client = signed_in(csrf_client, world, route.rightful)
    path, data = route.path(world), route.data(world)
    before = victim_state(world)
    response = client.post(path, data)
    assert response.status_code == 403, (path, response.status_code)
    assert "CSRF" in response.content.decode()
    # A token, but the request comes from another site (HTTPS, so Django checks the Origin).
    token = a_csrf_token(client)
    response = client.post(path, {**data, "csrfmiddlewaretoken": token}, secure=True, headers={"Origin": FOREIGN})
    assert response.status_code == 403, (path, "foreign origin", response.status_code)
    assert victim_state(world) == before, f"{path}: a forged post changed data"
    # The same post from the page itself works: the refusals were CSRF's.
    response = client.post(path, {**data, "csrfmiddlewaretoken": token})
    assert response.status_code == route.rightful_status, (path, response.status_code)


@pytest.mark.parametrize("name", POSTS)
def test_a_state_changing_url_refuses_get(world, csrf_client, name):
    """A link or an image on another site makes a GET, which carries no token: none of
    these URLs acts on one."""
    route: Route = ROUTES[name]
    client = signed_in(csrf_client, world, route.rightful)
    before = victim_state(world)
    assert client.get(route.path(world)).status_code == 405
    assert victim_state(world) == before


def test_sign_in_and_sign_out_need_the_csrf_token(world, csrf_client):
    """Login CSRF (signing a victim into the attacker's account) and forced sign-out."""
    world.classmate.user.set_password("a-long-test-password")
    world.classmate.user.save()
    csrf_client.cookies.clear()
    credentials = {"username": world.classmate.user.username, "password": "a-long-test-password"}
    assert csrf_client.post("/login/", credentials).status_code == 403
    assert django_settings.SESSION_COOKIE_NAME not in csrf_client.cookies
    signed_in(csrf_client, world, "victim")
    assert csrf_client.post("/logout/").status_code == 403
    assert csrf_client.get("/").status_code == 200  # still signed in
    response = csrf_client.post(
        f"/invite/{world.invite_token}/", {"new_password1": "An-attackers-pw-1", "new_password2": "An-attackers-pw-1"}
    )
    assert response.status_code == 403
    assert victim_state(world)["invites"][0][1] is None  # not used


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("route", sorted(SOCKETS))
async def test_a_socket_from_another_origin_is_refused(route):
    """The signed-in rightful user's own socket, opened from another site, from a page
    with no origin (a sandboxed frame, a file: page: "null"), or with none at all."""
    world = await database_sync_to_async(world_make)()
    socket = SOCKETS[route]
    user = world.staff if socket.rightful == "staff" else getattr(world, socket.rightful).user
    session = await database_sync_to_async(session_cookie)(user)
    path = socket.path(world)
    for origin in (FOREIGN, "http://localhost.evil.example", "http://127.0.0.1.nip.io", "null", None):
        accepted, code, messages = await socket_answer(path, session, origin=origin)
        assert not accepted and not messages, (path, origin, code)
    accepted, code, _ = await socket_answer(path, session, origin="http://localhost")
    assert accepted or code == socket.rightful_close, (path, code)


def production_environment() -> dict[str, str]:
    """The production overlay's ConfigMap as the web pods' environment, with a secret key
    (its Secret is a template)."""
    data = yaml.safe_load(PRODUCTION_CONFIG.read_text())["data"]
    return {
        **{k: v for k, v in os.environ.items() if k not in {"DEBUG", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"}},
        **data,
        "SECRET_KEY": "production-like-" + "s3cr3t" * 10,
    }


def test_the_production_overlays_settings_pass_the_deploy_check():
    """Every deploy check but HSTS preload (W021): submitting a domain to the browsers'
    preload list binds all its subdomains to HTTPS for months, so the overlay leaves
    SECURE_HSTS_PRELOAD to the operator (tests/unit/test_settings.py checks it set)."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=production_environment(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = result.stdout + result.stderr
    issues = set(re.findall(r"\((\w+\.[EW]\d+)\)", said))
    assert issues <= {"security.W021"}, said
    assert result.returncode == 0 or issues, said


COOKIE_SETTINGS = [
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_SAMESITE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
    "X_FRAME_OPTIONS",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "DEBUG",
]


def production_settings() -> dict:
    """The settings the production environment gives, read in a fresh interpreter."""
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{name: getattr(settings, name) for name in {COOKIE_SETTINGS!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**production_environment(), "DJANGO_SETTINGS_MODULE": "labplatform.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_cookies_are_secure_http_only_and_same_site(world, settings):
    """With the production settings, a real sign-in over HTTPS (behind the ingress, which
    sets X-Forwarded-Proto) sets a session cookie that is Secure, HttpOnly and SameSite=Lax
    and a CSRF cookie that is Secure and SameSite=Lax; plain HTTP is redirected."""
    production = production_settings()
    assert production["DEBUG"] is False
    assert production["SESSION_COOKIE_SECURE"] and production["CSRF_COOKIE_SECURE"]
    assert production["SESSION_COOKIE_HTTPONLY"] is True
    assert production["SESSION_COOKIE_SAMESITE"] == production["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert production["SECURE_SSL_REDIRECT"] and production["SECURE_HSTS_SECONDS"] >= 31536000
    for name, value in production.items():
        setattr(settings, name, tuple(value) if isinstance(value, list) else value)
    settings.ALLOWED_HOSTS = ["labs.example.com"]
    world.classmate.user.set_password("a-long-test-password")
    world.classmate.user.save()
    browser = Client(HTTP_HOST="labs.example.com")
    plain = browser.get("/login/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://labs.example.com/")
    https = {"headers": {"X-Forwarded-Proto": "https"}}
    page = browser.get("/login/", **https)
    assert page.status_code == 200
    assert page["Strict-Transport-Security"].startswith(f"max-age={production['SECURE_HSTS_SECONDS']}")
    assert page["X-Frame-Options"] == "DENY" and page["X-Content-Type-Options"] == "nosniff"
    token = page.cookies[settings.CSRF_COOKIE_NAME]
    assert token["secure"] and token["samesite"] == "Lax"
    signed = browser.post(
        "/login/",
        {"username": world.classmate.user.username, "password": "a-long-test-password"},
        headers={"X-Forwarded-Proto": "https", "Referer": "https://labs.example.com/login/"},
    )
    assert signed.status_code == 302, signed.status_code
    session = signed.cookies[settings.SESSION_COOKIE_NAME]
    assert session.value and session["secure"] and session["httponly"] and session["samesite"] == "Lax"
