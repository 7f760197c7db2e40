"""`make bench`: generate the inputs, measure every part side by side, write BENCHMARKS.md.

Everything it starts (Redis, gunicorn, nginx, a PostgreSQL database) lives on loopback in
a scratch directory and is removed at the end, whatever happens.
"""

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bench import inputs, report, thumbs
from bench.common import REPO, machine
from tests.integration.procs import free_port, process

POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = "pixtier_bench"
SERVICE_TIMEOUT = 420  # seconds for parts 2-4 together
THROTTLES = ("UPLOADS", "LINK_CREATION", "DOWNLOADS", "LINK_DOWNLOADS", "TOKEN")


@contextmanager
def database(name: str = DATABASE) -> Iterator[str]:
    """A database of the bench's own on the local PostgreSQL, dropped afterwards."""
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def redis(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server (no persistence) on a free loopback port."""
    port = free_port()
    args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    args += ["--appendonly", "no", "--dir", str(workdir)]
    with process(args, env={}, log=workdir / "redis.log"):
        deadline = time.monotonic() + 10
        while b"Ready to accept connections" not in (workdir / "redis.log").read_bytes():
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"


def services(scratch: Path, jpeg: Path) -> dict[str, Any]:
    if shutil.which("redis-server") is None:
        return {"skipped": "redis-server is not installed"}
    out = scratch / "service.json"
    with database() as url, redis(scratch) as redis_url:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "MEDIA_ROOT": str(scratch / "media"),
            "STATIC_ROOT": str(scratch / "static"),
            "PIXTIER_VAR_DIR": str(scratch / "var"),
            "BACKGROUND_MODE": "thread",
            "LOG_LEVEL": "WARNING",
            # One load generator on one address would hit every rate limit at once.
            **{f"THROTTLE_{scope}": "off" for scope in THROTTLES},
            # The store-only baseline endpoint takes an upload-sized body like the upload.
            "MAX_REQUEST_BYTES": str(30 * 1024 * 1024),
        }
        subprocess.run(
            [sys.executable, "-m", "bench.service", str(scratch), str(jpeg), str(out)],
            cwd=REPO,
            env=env,
            timeout=SERVICE_TIMEOUT,
            check=True,
        )
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--runs", type=int, default=thumbs.RUNS, help="timed runs per method")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    started = time.monotonic()
    facts = machine()
    scratch = Path(tempfile.mkdtemp(prefix="pixtier-bench-"))
    try:
        print(f"bench: inputs in {scratch}", flush=True)
        generated = inputs.generate(scratch)
        print("bench: part 1, thumbnails", flush=True)
        pipeline = thumbs.measure(generated, runs=args.runs)
        print("bench: parts 2-4, PostgreSQL + Redis + gunicorn + nginx", flush=True)
        jpeg = next(i.path for i in generated if i.name.startswith("12 MP JPEG"))
        served = services(scratch, jpeg)
    finally:
        if args.keep:
            print(f"bench: kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    facts["load_average_end"] = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    facts["duration_s"] = round(time.monotonic() - started)
    text = report.render(facts, pipeline, served, runs=args.runs)
    args.output.write_text(text)
    print(report.summary_table(pipeline, served))
    print(f"bench: wrote {args.output} in {facts['duration_s']} s")


if __name__ == "__main__":
    main()
