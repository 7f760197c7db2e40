"""The shared cache as a shortcut only: reads that miss it, or cannot reach it, go to the
database, which stays the truth. Forgetting is strict (see :func:`cache_forget`).

Redis going down must cost speed, not answers. The settings bound each attempt (socket
timeouts of seconds); after a failure this process leaves the cache alone for
``RETRY_SECONDS``, so a Redis that hangs rather than refuses costs one slow request per
interval, not every request.
"""

import logging
import time
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What Django's Redis backend raises when the server is down or stops answering.
CACHE_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)
RETRY_SECONDS = 10.0

_skip_until = 0.0


def cache_usable() -> bool:
    """False for a few seconds after the cache failed in this process."""
    return time.monotonic() >= _skip_until


def cache_failed(action: str, key: str, exc: Exception) -> None:
    """Note a failure: the cache is left alone for ``RETRY_SECONDS``."""
    global _skip_until
    _skip_until = time.monotonic() + RETRY_SECONDS
    logger.warning(
        "cache unavailable (%s %s: %r); using the database for %.0f s",
        action,
        key,
        exc,
        RETRY_SECONDS,
    )


def cache_get(key: str) -> Any:
    """The cached value, or None when it is absent or the cache cannot be reached."""
    if not cache_usable():
        return None
    try:
        return cache.get(key)
    except CACHE_ERRORS as exc:
        cache_failed("get", key, exc)
        return None


def cache_set(key: str, value: Any, timeout: int) -> None:
    """Cache ``value`` if the cache can be reached; otherwise the next read asks the
    database again."""
    if not cache_usable():
        return
    try:
        cache.set(key, value, timeout)
    except CACHE_ERRORS as exc:
        cache_failed("set", key, exc)


def cache_forget(keys: Iterable[str]) -> None:
    """Delete ``keys``, raising if the cache cannot be reached, even while reads skip it.

    A change that cannot drop the entries it outdates must fail (and its transaction roll
    back): a Redis that is only unreachable from here, or comes back with its data, would
    otherwise go on serving a revoked link or a removed height to every process.
    """
    keys = list(keys)
    if keys:
        cache.delete_many(keys)
