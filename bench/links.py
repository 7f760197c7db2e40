"""Links that count (SPEC 11): what counting costs a link download, and that it is exact.

1. The download path, side by side in one interleaved run against gunicorn on PostgreSQL:
   an unlimited link (counted in Redis, or by an UPDATE without Redis) and a link with a
   limit (one conditional UPDATE), each with Redis present and without it.
2. Concurrency: k simultaneous downloads of a link with n left, on PostgreSQL and on
   SQLite, through gunicorn with 4 workers x 8 threads: bodies served, 410s, the count.

Run alone: ``.venv/bin/python -m bench.links`` (needs the local PostgreSQL and
redis-server; writes docs/benchmarks/links.md). ``make bench`` runs it after the main
bench. Everything it starts lives on loopback in a scratch directory, removed at the end.
"""

import argparse
import http.client
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import load
from bench.__main__ import THROTTLES, database, redis
from bench.common import REPO, machine
from tests.integration.procs import free_port, process, wait_http

OUTPUT = REPO / "docs" / "benchmarks" / "links.md"
COMMAND = ".venv/bin/python -m bench.links"
ROUNDS = 5
ROUND_SECONDS = 2
# (parallel requests k, downloads left n)
RACES = [(100, 25), (60, 60), (20, 100)]
LIMIT = 1_000_000  # the "limited" link of the load test never runs out


# --- the outer process: services, then one inner run per database ----------------------


def _env(scratch: Path, database_url: str, redis_url: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "MEDIA_ROOT": str(scratch / "media"),
        "STATIC_ROOT": str(scratch / "static"),
        "PIXTIER_VAR_DIR": str(scratch / "var"),
        "BACKGROUND_MODE": "sync",
        "LOG_LEVEL": "WARNING",
        **{f"THROTTLE_{scope}": "off" for scope in THROTTLES},
    }


def _inner(mode: str, scratch: Path, env: dict[str, str]) -> dict[str, Any]:
    out = scratch / f"links-{mode}.json"
    subprocess.run(
        [sys.executable, "-m", "bench.links", "--inner", mode, str(scratch), str(out)],
        cwd=REPO,
        env={**os.environ, **env},
        timeout=600,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.links", description=__doc__)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--inner", nargs=3, metavar=("MODE", "SCRATCH", "OUT"))
    args = parser.parse_args()
    if args.inner:
        mode, scratch, out = args.inner
        inner_main(mode, Path(scratch), Path(out))
        return
    if shutil.which("redis-server") is None:
        raise SystemExit("bench.links needs redis-server")
    started = time.monotonic()
    facts = machine()
    scratch = Path(tempfile.mkdtemp(prefix="pixtier-bench-links-"))
    try:
        with database("pixtier_bench_links") as url, redis(scratch) as redis_url:
            print("bench.links: PostgreSQL (load and races)", flush=True)
            postgres = _inner("postgres", scratch / "pg", _env(scratch / "pg", url, redis_url))
        sqlite_url = f"sqlite:///{scratch / 'sqlite' / 'db.sqlite3'}"
        print("bench.links: SQLite (races)", flush=True)
        sqlite = _inner("sqlite", scratch / "sqlite", _env(scratch / "sqlite", sqlite_url, ""))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    facts["load_average_end"] = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    facts["duration_s"] = round(time.monotonic() - started)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(facts, postgres, sqlite))
    print(f"bench.links: wrote {args.output} in {facts['duration_s']} s")


# --- the inner process: Django set up on one database -------------------------------------


def _photo() -> bytes:
    from PIL import Image as PILImage

    gradient = PILImage.linear_gradient("L").resize((1600, 1200))
    radial = PILImage.radial_gradient("L").resize((1600, 1200))
    out = io.BytesIO()
    PILImage.merge("RGB", (gradient, radial, gradient.rotate(180))).save(out, "JPEG", quality=90)
    return out.getvalue()


@contextmanager
def _server(scratch: Path, env: dict[str, str], name: str, threads: int = 1) -> Iterator[Any]:
    """gunicorn as the bench's gunicorn() runs it; with ``threads`` > 1, 4 workers of that
    many threads each, so requests really overlap."""
    from bench.service import WORKERS, Server

    port = free_port()
    args = [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application"]
    args += [f"--bind=127.0.0.1:{port}"]
    args += [f"--workers={WORKERS}"] if threads == 1 else ["--workers=4", f"--threads={threads}"]
    with process(args, env=env, log=scratch / f"gunicorn-{name}.log") as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/api/v1/schema/")
        yield Server(url, [proc.pid])


def _seed() -> tuple[Any, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from pixtier.accounts.models import Tier, User
    from pixtier.accounts.selectors import tier_capabilities
    from pixtier.images.services import image_upload
    from pixtier.images.thumbnails import thumbnails_generate_for_image

    user = User(username=f"links-{secrets.token_hex(4)}", tier=Tier.objects.get(name="Enterprise"))
    user.set_unusable_password()
    user.save()
    image = image_upload(owner=user, file=SimpleUploadedFile("photo.jpg", _photo()), title="x")
    thumbnails_generate_for_image(image_id=image.pk)
    return image, tier_capabilities(user=user)


def _link(image: Any, capabilities: Any, max_downloads: int | None) -> tuple[str, Any]:
    from pixtier.links.services import expiring_link_create
    from pixtier.links.signing import link_token

    link = expiring_link_create(
        image=image,
        expires_in=30_000,
        height=400,
        capabilities=capabilities,
        max_downloads=max_downloads,
    )
    token = link_token(link_id=link.pk, expires_at=int(link.expires_at.timestamp()))
    return f"/api/v1/shared/{token}/", link


def _race(url: str, parallel: int) -> dict[str, int]:
    """``parallel`` GETs released at once, each on its own connection."""
    barrier = threading.Barrier(parallel)
    statuses: list[tuple[int, int]] = []
    lock = threading.Lock()
    parts = urlsplit(url)

    def get() -> None:
        connection = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=60)
        connection.connect()
        barrier.wait(timeout=30)
        connection.request("GET", parts.path)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        with lock:
            statuses.append((response.status, len(body)))

    threads = [threading.Thread(target=get) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return {
        "sent": parallel,
        "bodies": sum(1 for status, _ in statuses if status == 200),
        "gone": sum(1 for status, _ in statuses if status == 410),
        "other": sum(1 for status, _ in statuses if status not in (200, 410)),
        "answered": len(statuses),
        "body_bytes": {size for status, size in statuses if status == 200}.pop()
        if any(status == 200 for status, _ in statuses)
        else 0,
    }


def races(
    scratch: Path, env: dict[str, str], image: Any, capabilities: Any
) -> list[dict[str, Any]]:
    from pixtier.links.models import ExpiringLink

    found = []
    with _server(scratch, env, "race", threads=8) as server:
        for parallel, left in RACES:
            path, link = _link(image, capabilities, left)
            result = _race(server.url + path, parallel)
            result |= {
                "left": left,
                "counted": ExpiringLink.objects.get(pk=link.pk).downloads,
                "exact": result["bodies"] == min(parallel, left)
                and result["gone"] == parallel - min(parallel, left),
            }
            found.append(result)
    return found


def download_cost(
    scratch: Path, env: dict[str, str], image: Any, capabilities: Any
) -> dict[str, Any]:
    from pixtier.links.models import ExpiringLink
    from pixtier.links.services import link_downloads_flush

    unlimited, unlimited_link = _link(image, capabilities, None)
    limited, _ = _link(image, capabilities, LIMIT)
    unlimited_db, unlimited_db_link = _link(image, capabilities, None)
    without_redis = {**env, "REDIS_URL": ""}
    with (
        _server(scratch, env, "redis") as with_redis,
        _server(scratch, without_redis, "no-redis") as plain,
    ):
        targets: dict[str, tuple[str, dict[str, str]]] = {
            "unlimited link, Redis (HINCRBY, batched)": (with_redis.url + unlimited, {}),
            f"limited link ({LIMIT:,}), Redis present (conditional UPDATE)": (
                with_redis.url + limited,
                {},
            ),
            "unlimited link, no Redis (UPDATE per download)": (plain.url + unlimited_db, {}),
            f"limited link ({LIMIT:,}), no Redis (conditional UPDATE)": (plain.url + limited, {}),
        }
        rows = load.interleaved(
            targets,
            rounds=ROUNDS,
            seconds=ROUND_SECONDS,
            server_pids=with_redis.pids + plain.pids,
        )
    pending_before = ExpiringLink.objects.get(pk=unlimited_link.pk).downloads
    flushed = link_downloads_flush()
    return {
        "rows": rows,
        "flush": {
            "links_updated": flushed,
            "row_before_flush": pending_before,
            "row_after_flush": ExpiringLink.objects.get(pk=unlimited_link.pk).downloads,
            "no_redis_row": ExpiringLink.objects.get(pk=unlimited_db_link.pk).downloads,
        },
    }


def counting_calls(image: Any, capabilities: Any) -> dict[str, float]:
    """The counting step alone, in this process: microseconds per call, medians of
    interleaved rounds."""
    from django.test import override_settings
    from django.utils import timezone

    from pixtier.links.services import link_download_count

    _, unlimited = _link(image, capabilities, None)
    _, limited = _link(image, capabilities, LIMIT)
    variants = {
        "unlimited, Redis (HINCRBY + HSET, one round trip)": (unlimited, False, True),
        "limited, conditional UPDATE (autocommit)": (limited, True, True),
        "unlimited, no Redis (UPDATE)": (unlimited, False, False),
    }
    timings: dict[str, list[float]] = {name: [] for name in variants}
    calls = 200
    for _ in range(ROUNDS):
        for name, (link, limited_, with_redis) in variants.items():
            with override_settings(**({} if with_redis else {"REDIS_URL": ""})):
                started = time.perf_counter()
                for _ in range(calls):
                    assert link_download_count(
                        link_id=link.pk, limited=limited_, now=timezone.now()
                    )
                timings[name].append((time.perf_counter() - started) / calls * 1e6)
    return {name: sorted(found)[len(found) // 2] for name, found in timings.items()}


def inner_main(mode: str, scratch: Path, out: Path) -> None:
    import django

    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "var").mkdir(exist_ok=True)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    image, capabilities = _seed()
    env = {key: os.environ[key] for key in os.environ}
    results: dict[str, Any] = {"load_tool": "wrk" if load.WRK else "python"}
    if mode == "postgres":
        results["cost"] = download_cost(scratch, env, image, capabilities)
        results["calls"] = counting_calls(image, capabilities)
        print("  download path measured", flush=True)
    results["races"] = races(scratch, env, image, capabilities)
    out.write_text(json.dumps(results, indent=1, default=str))


# --- the report ---------------------------------------------------------------------------


def render(facts: dict[str, Any], postgres: dict[str, Any], sqlite: dict[str, Any]) -> str:
    rows = postgres["cost"]["rows"]
    base_name = next(iter(rows))
    base = rows[base_name]
    lines = [
        "# Links that count: the cost of counting, and its exactness",
        "",
        f"Written by `{COMMAND}` (also run by `make bench`), {facts['date']}, on "
        f"{facts['cores']} cores ({facts['cpu']}) shared with other work: load average "
        f"{facts['load_average']} at the start, {facts['load_average_end']} at the end, "
        f"{facts['duration_s']} s in all. Absolute numbers move with that load; the "
        "ratios, from one interleaved run, are what to read.",
        "",
        "## 1. The download path",
        "",
        "An expiring link to a 400 px thumbnail (~20 kB), downloaded by "
        f"{postgres['load_tool']} (4 connections) from gunicorn (2 sync workers) on "
        f"PostgreSQL; {ROUNDS} interleaved rounds of {ROUND_SECONDS} s per row, medians. "
        "With Redis an unlimited link's access decision is cached "
        "(`DOWNLOAD_CACHE_SECONDS`); a limited link's is made afresh on every download "
        "(its count decides it), and without Redis every download reads the database.",
        "",
        "| download | req/s | vs first row | p50 ms | p99 ms | server CPU ms/req | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['rps']:.0f} | {row['rps'] / base['rps']:.2f} | "
            f"{row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['server_cpu_ms']:.2f} | "
            f"{row['errors']} |"
        )
    flush = postgres["cost"]["flush"]
    lines += [
        "",
        f"After the run the unlimited link counted in Redis had {flush['row_before_flush']} "
        f"downloads in its row; one flush wrote {flush['row_after_flush']} "
        f"({flush['links_updated']} link(s) updated). The one counted without Redis had "
        f"{flush['no_redis_row']} in its row directly.",
        "",
        "The counting step alone (`link_download_count`, in one process, PostgreSQL and "
        f"Redis on loopback, {ROUNDS} interleaved rounds of 200 calls, medians):",
        "",
        "| counting | µs per download | vs first row |",
        "|---|---|---|",
        *(
            f"| {name} | {us:.0f} | {us / next(iter(postgres['calls'].values())):.1f} |"
            for name, us in postgres["calls"].items()
        ),
        "",
        "## 2. Exact under concurrency",
        "",
        "k GETs released together (a barrier, one connection each) at a link with n "
        "downloads left, through gunicorn with 4 workers x 8 threads.",
        "",
        "| database | k sent | n left | bodies (200) | 410 | other | count in the row | exact |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, found in (("PostgreSQL", postgres["races"]), ("SQLite", sqlite["races"])):
        for race in found:
            lines.append(
                f"| {name} | {race['sent']} | {race['left']} | {race['bodies']} | "
                f"{race['gone']} | {race['other']} | {race['counted']} | "
                f"{'yes' if race['exact'] else 'NO'} |"
            )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
