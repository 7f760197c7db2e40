"""Parts 2-4: the API under load, media delivery and uploads, against gunicorn (2 workers)
on PostgreSQL and Redis, with nginx in front for X-Accel-Redirect.

Run by ``python -m bench`` as ``python -m bench.service SCRATCH JPEG OUT.json`` with the
environment naming the bench's own database and Redis (both made and removed by it).
"""

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import django
import pyvips

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from bench import load  # noqa: E402
from bench.common import REPO, median, percentile  # noqa: E402
from pixtier.accounts.authentication import access_token_issue  # noqa: E402
from pixtier.accounts.models import Tier, User  # noqa: E402
from pixtier.accounts.selectors import tier_capabilities  # noqa: E402
from pixtier.images import processing  # noqa: E402
from pixtier.images.models import Image, Thumbnail  # noqa: E402
from pixtier.images.services import image_upload  # noqa: E402
from pixtier.images.thumbnails import thumbnails_generate_for_image  # noqa: E402
from pixtier.links.access import link_file  # noqa: E402
from pixtier.links.models import ExpiringLink  # noqa: E402
from pixtier.links.services import expiring_link_create  # noqa: E402
from pixtier.links.signing import link_token  # noqa: E402
from tests.integration.procs import free_port, process, wait_http  # noqa: E402

SIZES = {"10": 10, "10 000": 10_000, "100 000": 100_000}
WORKERS = 2
ROUNDS = 7  # interleaved load rounds per target
ROUND_SECONDS = 2  # whole seconds: wrk takes no fractions
UPLOADS = 12


# --- Servers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    url: str
    pids: list[int]  # masters: their workers' CPU is counted too


@contextmanager
def gunicorn(*, env: dict[str, str], log: Path, port: int | None = None) -> Iterator[Server]:
    """Pixtier under gunicorn (2 sync workers, no access log) on loopback."""
    port = port or free_port()
    args = [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application"]
    args += [f"--bind=127.0.0.1:{port}", f"--workers={WORKERS}"]
    with process(args, env=env, log=log) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/api/v1/schema/")
        yield Server(url, [proc.pid])


# --- Data ---------------------------------------------------------------------------------


def _user(name: str) -> User:
    user = User(username=name, tier=Tier.objects.get(name="Enterprise"))
    user.set_unusable_password()
    user.save()
    return user


def seed() -> dict[str, User]:
    """A user per size with that many image rows (no files: listing never opens one), and
    expiring links on the largest's images so the link table is not trivially small."""
    users = {}
    for label, count in SIZES.items():
        user = users[label] = _user(f"bench-{count}")
        for start in range(0, count, 5000):
            Image.objects.bulk_create(
                Image(
                    owner=user,
                    title=f"photo {i}",
                    original_key=f"originals/{uuid.uuid4().hex}.jpg",
                    width=4000,
                    height=3000,
                    content_type="image/jpeg",
                    size=2_500_000 + i,
                    sha256=hashlib.sha256(str(i).encode()).hexdigest(),
                )
                for i in range(start, min(count, start + 5000))
            )
    now = timezone.now().replace(microsecond=0)
    ExpiringLink.objects.bulk_create(
        (
            ExpiringLink(
                image_id=image_id,
                height=400,
                expires_in=30_000,
                created_at=now,
                expires_at=now + timedelta(seconds=30_000),
            )
            for image_id in Image.objects.filter(owner=users["100 000"]).values_list(
                "pk", flat=True
            )[:20_000]
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return users


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token_issue(user=user)}"}


# --- Queries, in process ------------------------------------------------------------------


def queries(path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """SQL of one request with an empty cache (cold) and of the same request again (warm)."""
    client = APIClient()
    counts: list[int] = []
    statements: list[str] = []
    for _ in ("cold", "warm"):
        if not counts:
            cache.clear()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
        counts.append(len(captured))
        statements = [q["sql"] for q in captured.captured_queries]
    return {"queries": counts[0], "queries_warm": counts[1], "sql": statements}


def explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING ON) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _statement(statements: list[str], table: str) -> str:
    return next(sql for sql in statements if f'FROM "{table}"' in sql)


def _measured(
    server: "Server",
    targets: dict[str, tuple[str, dict[str, str]]],
    counted: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    loaded = load.interleaved(
        {name: (server.url + path, headers) for name, (path, headers) in targets.items()},
        rounds=ROUNDS,
        seconds=ROUND_SECONDS,
        server_pids=server.pids,
    )
    return {
        name: {
            **loaded[name],
            **{k: v for k, v in counted.get(name, {}).items() if k != "sql"},
        }
        for name in targets
    }


# --- Part 2: the API ----------------------------------------------------------------------


def part_api(server: Server, users: dict[str, User]) -> dict[str, Any]:
    path = "/api/v1/images/?page_size=20"
    targets: dict[str, tuple[str, dict[str, str]]] = {}
    counted: dict[str, dict[str, Any]] = {}
    explains: dict[str, str] = {}
    for label, user in users.items():
        name = f"list, {label} images"
        targets[name] = (path, bearer(user))
        counted[name] = queries(path, bearer(user))
    biggest = users["100 000"]
    explains["list, first page (100 000 images)"] = explain(
        _statement(counted["list, 100 000 images"]["sql"], "images_image")
    )
    page = APIClient()
    page.credentials(HTTP_AUTHORIZATION=bearer(biggest)["Authorization"])
    parts = urlsplit(page.get(path).json()["next"])
    next_path = f"{parts.path}?{parts.query}"
    targets["list, 100 000 images, next page"] = (next_path, bearer(biggest))
    counted["list, 100 000 images, next page"] = queries(next_path, bearer(biggest))
    explains["list, next page by cursor (100 000 images)"] = explain(
        _statement(counted["list, 100 000 images, next page"]["sql"], "images_image")
    )
    targets["/me/ (trivial)"] = ("/api/v1/me/", bearer(users["10"]))
    counted["/me/ (trivial)"] = queries("/api/v1/me/", bearer(users["10"]))
    link = ExpiringLink.objects.order_by("?").first()
    assert link is not None
    cache.clear()
    token = link_token(link_id=link.pk, expires_at=int(link.expires_at.timestamp()))
    with CaptureQueriesContext(connection) as captured:
        link_file(token=token, now=int(time.time()))
    explains["link lookup (20 000 links)"] = explain(captured.captured_queries[0]["sql"])
    return {"rows": _measured(server, targets, counted), "explain": explains}


# --- Part 3: media ------------------------------------------------------------------------


def media_fixture(jpeg: bytes) -> dict[str, Any]:
    """An Enterprise user's uploaded photo with its thumbnails made, and a link to the
    400 px one."""
    user = _user("bench-media")
    image = image_upload(owner=user, file=SimpleUploadedFile("photo.jpg", jpeg), title="photo")
    thumbnails_generate_for_image(image_id=image.pk)
    capabilities = tier_capabilities(user=user)
    links = {}
    for height in (400, None):
        link = expiring_link_create(
            image=image, expires_in=30_000, height=height, capabilities=capabilities
        )
        token = link_token(link_id=link.pk, expires_at=int(link.expires_at.timestamp()))
        links[height] = (f"/api/v1/shared/{token}/", link.pk)
    thumb = Thumbnail.objects.get(image=image, height=400)
    return {
        "user": user,
        "owner_path": f"/api/v1/images/{image.pk}/thumbnails/400/",
        "link_path": links[400][0],
        "link_id": links[400][1],
        "original_link_path": links[None][0],
        "original_link_id": links[None][1],
        "file": Path(settings.MEDIA_ROOT) / thumb.key,
        "bytes": thumb.size,
    }


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_MAIN = """\
{user}
daemon off;
worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/pixtier.conf;
}}
"""


@contextmanager
def nginx(*, port: int, upstream: str, static_root: Path, workdir: Path) -> Iterator[Server]:
    """deploy/nginx.conf (addresses and paths swapped for the bench's) on loopback."""
    site = (REPO / "deploy" / "nginx.conf").read_text()
    for deployed, here in {
        "listen 80;": f"listen 127.0.0.1:{port};",
        "server web:8000;": f"server {upstream};",
        "alias /app/var/static/;": f"alias {static_root}/;",
        "alias /app/var/media/;": f"alias {settings.MEDIA_ROOT}/;",
    }.items():
        if site.count(deployed) != 1:
            raise RuntimeError(f"deploy/nginx.conf no longer says {deployed!r}")
        site = site.replace(deployed, here)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pixtier.conf").write_text(site)
    main = workdir / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""
    main.write_text(NGINX_MAIN.format(user=user, dir=workdir))
    args = [NGINX, "-p", str(workdir), "-c", str(main), "-e", str(workdir / "error.log")]
    subprocess.run([*args, "-t"], capture_output=True, check=True, timeout=30)
    with process(args, env={}, log=workdir / "nginx.out") as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/static/")
        yield Server(url, [proc.pid])


def link_queries(media: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """SQL of expiring-link downloads: empty cache; tier cached but not the link (a link's
    first download in steady state, tiers being few and hot); everything cached."""
    found = {}
    for name, path, link_id in (
        ("expiring link to the 400 px thumbnail", media["link_path"], media["link_id"]),
        ("expiring link to the original", media["original_link_path"], media["original_link_id"]),
    ):
        counted = queries(path)
        # The link's decision forgotten, the versions and the tier still cached.
        cache._cache.get_client().delete(f"pixtier:access:e:link:{link_id}")  # type: ignore[attr-defined]
        with CaptureQueriesContext(connection) as captured:
            assert APIClient().get(path).status_code == 200
        found[name] = {
            **counted,
            "queries_link_cold": len(captured),
            "sql_link_cold": [q["sql"] for q in captured.captured_queries],
        }
    return found


def part_delivery_django(server: Server, media: dict[str, Any]) -> dict[str, Any]:
    owner = bearer(media["user"])
    counted = {
        "owner thumbnail, Django streaming": queries(media["owner_path"], owner),
        "expiring link, Django streaming": queries(media["link_path"]),
    }
    links = link_queries(media)
    rows = _measured(
        server,
        {
            "owner thumbnail, Django streaming": (media["owner_path"], owner),
            "expiring link, Django streaming": (media["link_path"], {}),
        },
        counted,
    )
    return {
        "rows": rows,
        "links": links,
        "link_sql": counted["expiring link, Django streaming"]["sql"],
    }


def part_delivery_nginx(
    env: dict[str, str], scratch: Path, media: dict[str, Any]
) -> dict[str, Any]:
    static = scratch / "static-files"
    (static / "bench").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(media["file"], static / "bench" / "thumb.jpg")
    owner = bearer(media["user"])
    upstream_port = free_port()
    accel_env = {**env, "DELIVERY_MODE": "x-accel"}
    with (
        gunicorn(env=accel_env, log=scratch / "gunicorn-accel.log", port=upstream_port) as upstream,
        nginx(
            port=free_port(),
            upstream=f"127.0.0.1:{upstream_port}",
            static_root=static,
            workdir=scratch / "nginx",
        ) as front,
    ):
        check = http.client.HTTPConnection("127.0.0.1", urlsplit(front.url).port, timeout=10)
        check.request("GET", media["owner_path"], headers=owner)
        answer = check.getresponse()
        body = answer.read()
        check.close()
        if answer.status != 200 or len(body) != media["bytes"]:
            raise RuntimeError(f"X-Accel path answered {answer.status} with {len(body)} bytes")
        rows = _measured(
            Server(front.url, front.pids + upstream.pids),
            {
                "owner thumbnail, X-Accel-Redirect": (media["owner_path"], owner),
                "expiring link, X-Accel-Redirect": (media["link_path"], {}),
                "nginx static file (same bytes)": ("/static/bench/thumb.jpg", {}),
            },
            {},
        )
    return rows


# --- Part 4: uploads ----------------------------------------------------------------------


def _multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), boundary


def _post(base: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[float, Any]:
    parts = urlsplit(base)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers=headers)
        answer = conn.getresponse()
        payload = answer.read()
    finally:
        conn.close()
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status != 201:
        raise RuntimeError(f"POST {path} answered {answer.status}: {payload[:300]!r}")
    return elapsed, json.loads(payload)


def _ready_ms(image_id: str, heights: int, started: float, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = Thumbnail.objects.filter(image_id=image_id, state=Thumbnail.State.READY).count()
        if ready >= heights:
            return (time.perf_counter() - started) * 1000
        time.sleep(0.005)
    raise TimeoutError(f"thumbnails of {image_id} not ready in {timeout} s")


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": median(values), "p99_ms": percentile(values, 0.99), "n": len(values)}


def _timed(run: Any, count: int = 7) -> float:
    """Median CPU time of ``run`` in ms (all threads: libvips runs a pool), which other
    processes on the machine hardly disturb."""
    run()
    times = []
    for _ in range(count):
        started = time.process_time()
        run()
        times.append((time.process_time() - started) * 1000)
    return median(times)


def part_upload(base: str, jpeg: bytes) -> dict[str, Any]:
    user = _user("bench-upload")
    heights = len(tier_capabilities(user=user).heights)
    body, boundary = _multipart(jpeg)
    headers = {
        **bearer(user),
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(body)),
    }
    upload, ready, store_http, store = [], [], [], []
    for _ in range(UPLOADS):
        started = time.perf_counter()
        elapsed, image = _post(base, "/api/v1/images/", body, headers)
        upload.append(elapsed)
        ready.append(_ready_ms(image["id"], heights, started))
        store_http.append(_post(base, "/bench/store/", body, headers)[0])
        started = time.perf_counter()
        default_storage.save(f"bench/{uuid.uuid4().hex}", ContentFile(jpeg))
        store.append((time.perf_counter() - started) * 1000)
    limits = processing.Limits(max_pixels=settings.PIXTIER_MAX_PIXELS)
    return {
        "bytes": len(jpeg),
        "upload": _summary(upload),
        "thumbnails_ready": _summary(ready),
        "store_http": _summary(store_http),
        "store": _summary(store),
        "breakdown_ms": {
            "inspect (validation alone, 1/8 scale)": _timed(
                lambda: processing.inspect(jpeg, limits=limits)
            ),
            "1/8-scale decode": _timed(
                lambda: pyvips.Image.jpegload_buffer(jpeg, shrink=8, access="sequential").avg()
            ),
            "sha256": _timed(lambda: hashlib.sha256(jpeg).hexdigest()),
            "process (validation + thumbnails, one decode)": _timed(
                lambda: processing.process(jpeg, limits=limits, heights=[200, 400])
            ),
        },
    }


# --- Main ---------------------------------------------------------------------------------


def main(scratch: Path, jpeg_path: Path, out: Path) -> None:
    started = time.monotonic()
    call_command("migrate", verbosity=0)
    users = seed()
    print(f"  seeded in {time.monotonic() - started:.0f} s", flush=True)
    settings.PIXTIER_BACKGROUND = "off"  # this process makes what it needs itself
    jpeg = jpeg_path.read_bytes()
    media = media_fixture(jpeg)
    env = {key: os.environ[key] for key in os.environ if key not in ("DELIVERY_MODE",)}
    results: dict[str, Any] = {
        "load_tool": "wrk" if load.WRK else "python",
        "load": {"rounds": ROUNDS, "seconds": ROUND_SECONDS},
    }
    with gunicorn(env=env, log=scratch / "gunicorn.log") as server:
        results["api"] = part_api(server, users)
        print("  API measured", flush=True)
        results["delivery"] = part_delivery_django(server, media)
        results["upload"] = part_upload(server.url, jpeg)
        print("  uploads measured", flush=True)
    if getattr(settings, "PIXTIER_DELIVERY", None) is not None:
        results["delivery"]["rows"].update(part_delivery_nginx(env, scratch, media))
        results["x_accel"] = "measured"
    else:
        results["x_accel"] = "pending: DELIVERY_MODE=x-accel is not in this tree yet"
    print("  delivery measured", flush=True)
    out.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
