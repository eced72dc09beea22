"""Settings fail fast on bad environment values; run in a fresh interpreter each time,
since settings are read once per process."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG", "SECRET_KEY"}}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; from django.conf import settings; django.setup(); print('ok')"],
        env={**environment, "DJANGO_SETTINGS_MODULE": "labplatform.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_up_stops_on_a_malformed_database_url_naming_it():
    result = load_settings(SECRET_KEY="x", DATABASE_URL="mysql://db/labplatform")
    assert result.returncode != 0
    assert "DATABASE_URL='mysql://db/labplatform' must be a URL with scheme" in result.stderr


def test_start_up_stops_on_a_malformed_boolean_naming_it():
    result = load_settings(SECRET_KEY="x", DEBUG="perhaps")
    assert result.returncode != 0
    assert "DEBUG='perhaps' is not a boolean" in result.stderr


def test_start_up_needs_a_secret_key_outside_debug():
    result = load_settings()
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set" in result.stderr


def test_start_up_succeeds_with_defaults_and_a_secret_key():
    result = load_settings(SECRET_KEY="x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_short_healthz_token_stops_start_up_naming_it():
    result = load_settings(SECRET_KEY="x", HEALTHZ_TOKEN="guessable")
    assert result.returncode != 0
    assert "HEALTHZ_TOKEN must be at least 32 characters" in result.stderr


def test_the_sign_in_throttle_reads_its_limits_from_the_environment():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; from django.conf import settings; django.setup();"
            " print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME)",
        ],
        env={**os.environ, "SECRET_KEY": "x", "LOGIN_FAILURE_LIMIT": "3", "LOGIN_LOCKOUT_MINUTES": "60"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "1:00:00"]
    refused = load_settings(SECRET_KEY="x", LOGIN_FAILURE_LIMIT="0")
    assert "LOGIN_FAILURE_LIMIT=0 must be at least 1" in refused.stderr


def test_production_settings_pass_the_deploy_check():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={
            **{k: v for k, v in os.environ.items() if k not in {"DEBUG"}},
            "SECRET_KEY": "k" * 20 + "-production-grade-secret-with-enough-entropy-0123456789",
            "ALLOWED_HOSTS": "labs.example.com",
            "SECURE_COOKIES": "true",
            "SECURE_SSL_REDIRECT": "true",
            "SECURE_HSTS_SECONDS": "31536000",
            "SECURE_HSTS_PRELOAD": "true",
            "HEALTHZ_TOKEN": "h" * 40,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
