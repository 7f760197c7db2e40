"""Real processes for integration tests: gunicorn, Celery workers, nginx, SeaweedFS.

Each starts on loopback, is waited for, and is stopped (SIGTERM, then SIGKILL after a
grace period) when its context ends. Output goes to a log file the test can read.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 120) -> None:
    """Wait until ``url`` answers at all (any HTTP status)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.2)


@contextmanager
def process(
    args: list[str], *, env: dict[str, str], log: Path, grace: float = 5
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop(proc, grace=grace)


def stop(proc: subprocess.Popen[bytes], *, grace: float = 5) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def gunicorn(
    *, env: dict[str, str], log: Path, workers: int = 1, port: int | None = None
) -> Iterator[str]:
    """Pixtier under gunicorn; yields its base URL."""
    port = port or free_port()
    args = [
        str(BIN / "gunicorn"),
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--access-logfile=-",
    ]
    with process(args, env=env, log=log):
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/api/v1/schema/")
        yield url


@contextmanager
def celery_worker(*, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    args = [
        str(BIN / "celery"),
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        "--concurrency=1",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with process(args, env=env, log=log, grace=10) as proc:
        deadline = time.monotonic() + 120
        while b"ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield proc
