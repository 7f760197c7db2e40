"""/healthz says the process is up; /readyz says whether the backing services answer.

No mocks: each failure is real. The database is made unreachable by pointing new
connections at a database that does not exist; the object store and Redis by pointing at
a closed port, or at a port that accepts connections and never answers.
"""

import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.config import Config
from django.db import connections
from django.test import Client, override_settings
from rest_framework.test import APIClient

from pixtier.common import health


@pytest.fixture(autouse=True)
def checks_settle() -> Iterator[None]:
    """A check that outlived its probe would be waited on by the next test's probe; an
    answer reused from the previous test would hide this one's failure."""
    health.readiness_forget()
    yield
    for future in list(health._in_flight.values()):
        future.exception(timeout=30)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3_storage_at(endpoint: str, **config: Any) -> dict[str, Any]:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "pixtier",
            "access_key": "pixtier",
            "secret_key": "pixtier-secret",
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "client_config": Config(retries={"max_attempts": 1}, **config),
        },
    }


def storage_at(settings: Any, storage: dict[str, Any]) -> override_settings:
    """Only for the block: the suite's own storage must work again at teardown."""
    return override_settings(STORAGES={**settings.STORAGES, "default": storage})


def expected_checks(settings: Any) -> set[str]:
    return {"database", "storage"} | ({"redis"} if settings.REDIS_URL else set())


def test_healthz_answers_without_touching_any_service() -> None:
    # No database fixture: pytest-django fails this test if the view opens a connection.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_needs_no_sign_in_and_answers_head() -> None:
    assert Client().head("/healthz").status_code == 200
    assert Client().post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_checks_at_most_once_a_second_however_often_it_is_asked(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(health, "CLOCK", lambda: now[0])
    runs: Counter[str] = Counter()
    for name, check in list(health._CHECKS.items()):
        monkeypatch.setitem(health._CHECKS, name, counted(runs, name, check))

    burst = [Client().get("/readyz").status_code for _ in range(20)]
    now[0] += 0.9
    still = Client().get("/readyz").status_code
    after_the_burst = dict(runs)
    now[0] += 0.2
    Client().get("/readyz")

    assert burst == [200] * 20
    assert still == 200
    assert after_the_burst == dict.fromkeys(expected_checks(settings), 1)
    assert runs == dict.fromkeys(expected_checks(settings), 2)


def counted(runs: Counter[str], name: str, check: Callable[[], None]) -> Callable[[], None]:
    """The real check, counted."""

    def run() -> None:
        runs[name] += 1
        check()

    return run


@pytest.mark.django_db
def test_readyz_is_ok_when_every_service_answers(settings: Any) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == dict.fromkeys(expected_checks(settings), "ok")


@pytest.mark.django_db
def test_readyz_names_the_database_when_it_is_unreachable(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check opens a new connection from these settings (shared by every thread's
    # connection); this test's own connection is already open and unaffected. The other
    # checks get all the time a loaded machine needs: they must answer "ok".
    monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 60.0)
    monkeypatch.setitem(
        connections["default"].settings_dict, "NAME", "/nonexistent/pixtier-readyz.sqlite3"
    )
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "down"
    assert body["checks"]["storage"] == "ok"
    assert "database" in body["detail"]
    assert "nonexistent" not in response.content.decode()  # reasons go to the log only


@pytest.mark.django_db
def test_readyz_names_the_storage_when_the_object_store_is_unreachable(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A refused connection is "down", however long a loaded machine takes to build the S3
    # client: the time limit is the next test's subject, not this one's.
    monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 60.0)
    with storage_at(settings, s3_storage_at(f"http://127.0.0.1:{closed_port()}")):
        response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["storage"] == "down"
    assert body["checks"]["database"] == "ok"
    assert body["detail"] == "Not ready: storage unavailable."


@pytest.mark.django_db
def test_readyz_answers_in_bounded_time_when_the_object_store_hangs(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit the answer must keep, shortened: the 20 s read timeout is what it must not
    # wait for, and 3 s of real time spent waiting here would check nothing more.
    monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 0.5)
    # A listening socket nobody accepts from: connections succeed, answers never come.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with storage_at(settings, s3_storage_at(endpoint, connect_timeout=2, read_timeout=20)):
            started = time.monotonic()
            response = Client().get("/readyz")
            elapsed = time.monotonic() - started
    # Closing the socket resets the pending connection, so the check ends now.
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == "timeout"
    # Bounded by the readiness limit, far below the 20 s read timeout (the margin is for
    # a loaded machine).
    assert health.READY_TIMEOUT_SECONDS <= elapsed < health.READY_TIMEOUT_SECONDS + 10


@pytest.mark.django_db
def test_readyz_names_redis_when_it_is_configured_and_unreachable(settings: Any) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    settings.REDIS_URL = url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "storage": "ok", "redis": "down"}
    assert "redis" in body["detail"]


@pytest.mark.django_db
def test_probes_and_metrics_stay_out_of_the_api_schema() -> None:
    paths = APIClient().get("/api/v1/schema/", {"format": "json"}).json()["paths"]
    assert not [p for p in paths if p.rstrip("/").rsplit("/", 1)[-1] in {"healthz", "readyz"}]
    assert not [p for p in paths if "metrics" in p]
