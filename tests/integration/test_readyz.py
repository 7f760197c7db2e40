"""/readyz under gunicorn against a SeaweedFS of the test's own (deploy/seaweedfs.sh on
free ports and a temp directory): ready, then 503 naming the storage within a bounded
time while the server is killed, then ready again once it is back."""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pixtier.common.health import READY_TIMEOUT_SECONDS
from tests.integration import procs
from tests.integration.seaweed import Seaweed, seaweedfs


@pytest.fixture
def seaweed(tmp_path: Path) -> Iterator[Seaweed]:
    with seaweedfs(tmp_path / "seaweedfs") as server:
        yield server


def readyz(base_url: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body), time.monotonic() - started


def test_readyz_follows_the_object_store_going_down_and_coming_back(
    service_env: dict[str, str], seaweed: Seaweed, tmp_path: Path
) -> None:
    env = {**service_env, **seaweed.client_env}
    with procs.gunicorn(env=env, log=tmp_path / "gunicorn.log") as url:
        status, body, _ = readyz(url)
        assert status == 200, body
        assert body["checks"] == {"database": "ok", "storage": "ok", "redis": "ok"}

        seaweed.kill()
        status, body, elapsed = readyz(url)
        assert status == 503, body
        assert body["checks"]["storage"] in {"down", "timeout"}
        assert body["checks"]["database"] == body["checks"]["redis"] == "ok"
        assert "storage" in body["detail"]
        assert elapsed < READY_TIMEOUT_SECONDS + 2

        seaweed.script("up")
        deadline = time.monotonic() + 60
        while (status := readyz(url)[0]) != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status == 200, (tmp_path / "gunicorn.log").read_text()[-3000:]
