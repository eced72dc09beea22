"""Strict readers for settings that come from the environment.

A malformed value stops start-up with a message naming the variable, instead of a
default being used silently or a confusing failure later.
"""

import json
import os
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, default: str | None = None) -> str:
    """Reads NAME, or the contents of the file named by NAME_FILE (not both)."""
    direct = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if direct is not None and file_name is not None:
        raise ImproperlyConfigured(f"set {name} or {name}_FILE, not both")
    if file_name is not None:
        try:
            value = Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}") from None
        if not value:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} is empty")
        return value
    if direct is not None:
        if not direct.strip():
            raise ImproperlyConfigured(f"{name} is set but empty")
        return direct
    if default is None:
        raise ImproperlyConfigured(f"{name} (or {name}_FILE) must be set")
    return default


def env_url(name: str, default: str, *, schemes: set[str]) -> str:
    raw = os.environ.get(name, default)
    parsed = urlparse(raw)
    if parsed.scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise ImproperlyConfigured(f"{name}={raw!r} must be a URL with scheme {allowed}")
    if parsed.scheme not in {"sqlite"} and not parsed.hostname:
        raise ImproperlyConfigured(f"{name}={raw!r} has no host")
    try:
        parsed.port  # noqa: B018 - urlparse validates the port lazily
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} has an invalid port") from None
    return raw


def env_json_object(name: str, default: dict) -> dict:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return _strings_object(
        raw,
        invalid=f"{name} is not valid JSON",
        wrong_type=f'{name} must be a JSON object of strings, like {{"key": "value"}}',
    )


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw.strip():
        raise ImproperlyConfigured(f"{name} is set but empty")
    return Path(raw).expanduser()


def json_file_object(path: Path) -> dict[str, str]:
    """A JSON object of strings written by a tool (k8s/local/node.sh); {} while it is not there."""
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return {}
    return _strings_object(
        raw, invalid=f"{path}: not valid JSON", wrong_type=f"{path}: must be a JSON object of strings"
    )


def _strings_object(raw: str, *, invalid: str, wrong_type: str) -> dict[str, str]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{invalid}: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ImproperlyConfigured(wrong_type)
    return value
