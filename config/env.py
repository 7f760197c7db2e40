"""Typed readers for environment variables that fail fast on malformed values.

Any variable ``NAME`` may instead be given as ``NAME_FILE``, the path of a file holding the
value (Docker secrets): the file's content, without its trailing newline, is the value.
"""

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_get(name: str) -> str | None:
    """``NAME`` from the environment, or the content of the file ``NAME_FILE`` names."""
    path = os.environ.get(f"{name}_FILE")
    if path is None:
        return os.environ.get(name)
    if name in os.environ:
        raise ImproperlyConfigured(f"give {name} or {name}_FILE, not both")
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as error:
        raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {error}") from None


def env_set(name: str) -> bool:
    return env_get(name) is not None


def env_str(name: str, default: str) -> str:
    value = env_get(name)
    return default if value is None else value


def env_required(name: str, *, because: str) -> str:
    value = (env_get(name) or "").strip()
    if not value:
        raise ImproperlyConfigured(f"{name} is required {because}")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = env_get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env_get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


_RATE = re.compile(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)")
_OFF = {"off", "none", "0"}


def env_rate(name: str, default: str) -> str | None:
    """A DRF throttle rate such as ``30/min``; ``off`` (or ``none``) for no limit."""
    raw = env_str(name, default).strip().lower()
    if raw in _OFF:
        return None
    if not _RATE.fullmatch(raw):
        raise ImproperlyConfigured(
            f"{name} must be a rate like 30/min (per s, min, hour or day) or off, got {raw!r}"
        )
    return raw
