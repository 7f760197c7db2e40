"""Probes for load balancers and orchestrators: /healthz (alive) and /readyz (can serve).

Readiness asks each backing service for something trivial: the database (a fresh
connection and ``SELECT 1``), the storage (``exists()`` of a fixed key, which reaches an
S3 server) and, when configured, Redis (a cache write). The checks run side by side on
helper threads and the answer never waits longer than ``READY_TIMEOUT_SECONDS``: a check
still running by then is reported as "timeout". Each check has one thread of its own,
reused, so its clients (a boto3 session, a Redis pool) are made once, and a check that
hangs is waited on by the next probe instead of piling up threads.

An answer is reused for ``READYZ_CACHE_SECONDS`` (1 s), so a flood of probes costs each
process at most one round of checks a second, not one per request.

Answers say only "ok", "down" or "timeout" per service; the reasons go to the log.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.core.cache import caches
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 3.0
STORAGE_PROBE_KEY = "readyz-probe"  # need not exist: asking is what reaches the backend


def _check_database() -> None:
    # A new connection each time, closed at once: readiness means new connections
    # succeed, and none lingers on this helper thread (it would block dropping a database).
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


def _check_storage() -> None:
    default_storage.exists(STORAGE_PROBE_KEY)


def _check_redis() -> None:
    caches["default"].set("pixtier:readyz", "ok", timeout=30)


_CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "storage": _check_storage,
    "redis": _check_redis,
}
_executors = {
    name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"readyz-{name}") for name in _CHECKS
}
_in_flight: dict[str, Future[None]] = {}
_lock = threading.Lock()
# The last answer and when it was made (CLOCK, injectable for tests).
CLOCK: Callable[[], float] = time.monotonic
_last: tuple[float, dict[str, str]] | None = None


def _start(name: str) -> Future[None]:
    """The running check for ``name``, started if none is."""
    with _lock:
        future = _in_flight.get(name)
        if future is None or future.done():
            future = _in_flight[name] = _executors[name].submit(_CHECKS[name])
        return future


def readiness() -> dict[str, str]:
    """Each backing service's state: "ok", "down" or "timeout" (at most
    ``PIXTIER_READYZ_CACHE_SECONDS`` old)."""
    global _last
    last, max_age = _last, settings.PIXTIER_READYZ_CACHE_SECONDS
    if last is not None and CLOCK() - last[0] < max_age:
        return dict(last[1])
    states = _probe()
    _last = (CLOCK(), states)
    return dict(states)


def readiness_forget() -> None:
    """The next probe checks again (tests)."""
    global _last
    _last = None


def _probe() -> dict[str, str]:
    names = ["database", "storage"] + (["redis"] if settings.REDIS_URL else [])
    futures = {name: _start(name) for name in names}
    wait(futures.values(), timeout=READY_TIMEOUT_SECONDS)
    states = {}
    for name, future in futures.items():
        if not future.done():
            logger.warning("readiness: %s did not answer within %s s", name, READY_TIMEOUT_SECONDS)
            states[name] = "timeout"
        elif (exc := future.exception()) is not None:
            logger.warning("readiness: %s is down: %r", name, exc)
            states[name] = "down"
        else:
            states[name] = "ok"
    return states


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering; touches no backing service."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the storage and (if configured) Redis answer, else 503."""
    checks = readiness()
    failing = [name for name, state in checks.items() if state != "ok"]
    if not failing:
        return JsonResponse({"status": "ok", "checks": checks})
    return JsonResponse(
        {
            "status": "unavailable",
            "detail": f"Not ready: {', '.join(failing)} unavailable.",
            "checks": checks,
        },
        status=503,
    )
