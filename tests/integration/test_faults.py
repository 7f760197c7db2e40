"""Faults injected for real into running programs: Redis killed or frozen under a
gunicorn, the object store killed before an upload, a database nobody answers at, and
every process crashed and started again after uploads were answered 201.

A worker killed mid-generation is in test_race.py (the thumbnail is made again and never
served half-written); the in-process faults (cache down for one process, a link expiring
during its download) are in tests/test_faults.py.
"""

import io
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from PIL import Image as PILImage
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.images.models import Image, Thumbnail
from tests.helpers import jpeg_bytes
from tests.integration import procs
from tests.integration.helpers import Reply, bearer, call, on, upload, wait_for
from tests.integration.seaweed import CREDENTIALS, Seaweed, seaweedfs

pytestmark = pytest.mark.django_db(transaction=True)

# Every answer to a request a fault hits must come within this (gunicorn kills a worker
# busy for 30 s, which a client would see as a dropped connection).
ANSWER_SECONDS = 15


@contextmanager
def redis_server(
    log: Path, *, port: int | None = None, directory: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of the test's own; yields its URL and process (kill it to take Redis
    down). With ``directory`` it keeps an append-only file there, synced on every write,
    as a broker that must not lose queued tasks is run; without, it keeps nothing."""
    port = port or procs.free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    if directory is not None:
        args += ["--dir", str(directory), "--appendonly", "yes", "--appendfsync", "always"]
    with procs.process(args, env={}, log=log) as proc:
        wait_for(
            lambda: b"Ready to accept connections" in log.read_bytes(), timeout=20, what="redis"
        )
        yield f"redis://127.0.0.1:{port}/0", proc


@contextmanager
def web(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """gunicorn as procs.gunicorn starts it, with its process, so that it can be killed."""
    port = procs.free_port()
    args = [
        str(procs.BIN / "gunicorn"),
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        "--workers=2",
        "--access-logfile=-",
    ]
    with procs.process(args, env=env, log=log) as proc:
        base = f"http://127.0.0.1:{port}"
        procs.wait_http(f"{base}/api/v1/schema/")
        yield base, proc


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and its children, as a crash would."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def timed(request: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``request(*args, **kwargs)``, which must answer within ANSWER_SECONDS."""
    started = time.monotonic()
    result = request(*args, **kwargs)
    elapsed = time.monotonic() - started
    assert elapsed < ANSWER_SECONDS, f"answered after {elapsed:.1f} s"
    return result


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def assert_json_503(reply: Reply) -> dict[str, Any]:
    assert reply.status == 503, reply.body[:500]
    assert reply.headers["Content-Type"] == "application/json", reply.headers
    body: dict[str, Any] = json.loads(reply.body)
    assert body["detail"]
    return body


def bucket(server: Seaweed, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` in ``server``'s bucket, seen with boto3: key -> bytes."""
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=CREDENTIALS["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["S3_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    found = {}
    name = CREDENTIALS["S3_BUCKET"]
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix):
        for entry in page.get("Contents", ()):
            key = entry["Key"]
            found[key[len(prefix) :]] = client.get_object(Bucket=name, Key=key)["Body"].read()
    return found


@pytest.fixture
def seaweed(tmp_path: Path) -> Iterator[Seaweed]:
    """A SeaweedFS of this test's own, which it may kill."""
    with seaweedfs(tmp_path / "seaweedfs") as server:
        yield server


@pytest.mark.parametrize("fault", ["killed", "frozen"])
def test_with_redis_down_uploads_reads_and_links_keep_working(
    enterprise_user: User, service_env: dict[str, str], tmp_path: Path, fault: str
) -> None:
    """Killed: connections are refused at once. Frozen (SIGSTOP): connections open and
    nothing answers, so only the socket timeouts end each wait."""
    web_log = tmp_path / "gunicorn.log"
    auth = bearer(enterprise_user)
    with redis_server(tmp_path / "redis.log") as (redis_url, redis):
        # REDIS_URL makes Redis the cache, the rate limits' counter and the Celery broker
        # (the "celery" background mode); no worker runs, none could reach it.
        env = {**service_env, "REDIS_URL": redis_url}
        with procs.gunicorn(env=env, log=web_log) as base:
            # While Redis is up, the server uses it: the tier is cached, /readyz is ready.
            assert call(f"{base}/api/v1/me/", headers=auth).status == 200
            assert call(f"{base}/readyz").status == 200

            if fault == "killed":
                kill(redis)
            else:
                os.killpg(redis.pid, signal.SIGSTOP)

            image = timed(upload, base, enterprise_user, jpeg_bytes(800, 600))
            assert Image.objects.filter(pk=image["id"]).exists()
            # The upload made its thumbnails itself: nothing to queue.
            assert Thumbnail.objects.filter(image_id=image["id"]).count() == 2
            for entry in image["thumbnails"]:
                reply = timed(call, on(base, entry["url"]), headers=auth)
                assert reply.status == 200, reply.body[:500]
                assert PILImage.open(io.BytesIO(reply.body)).height == entry["height"]

            listing = timed(call, f"{base}/api/v1/images/", headers=auth)
            assert listing.status == 200
            assert [item["id"] for item in listing.json()["results"]] == [image["id"]]
            assert timed(call, on(base, image["url"]), headers=auth).status == 200
            assert timed(call, on(base, image["original"]), headers=auth).status == 200

            # Expiring links: made and served without the cache.
            created = timed(
                call,
                on(base, image["expiring_links"]),
                method="POST",
                headers={**auth, "Content-Type": "application/json"},
                body=json.dumps({"expires_in": 300, "height": 200}).encode(),
            )
            assert created.status == 201, created.body
            for _ in range(2):
                public = timed(call, on(base, created.json()["url"]))
                assert public.status == 200, public.body[:500]
                assert PILImage.open(io.BytesIO(public.body)).height == 200

            body = assert_json_503(timed(call, f"{base}/readyz"))
            assert body["checks"]["redis"] in {"down", "timeout"}
            assert body["checks"]["database"] == body["checks"]["storage"] == "ok"
            assert "redis" in body["detail"]
            if fault == "frozen":
                kill(redis)  # a stopped process would sit out SIGTERM's grace period

    log = web_log.read_text()
    assert "cache unavailable" in log
    assert "Internal Server Error" not in log


def test_an_upload_the_object_store_cannot_take_answers_503_and_leaves_nothing(
    enterprise_user: User, service_env: dict[str, str], seaweed: Seaweed, tmp_path: Path
) -> None:
    auth = bearer(enterprise_user)
    env = {**service_env, **seaweed.client_env, "BACKGROUND_MODE": "off"}
    prefix = f"{service_env['S3_LOCATION']}/"
    kept_bytes, refused_bytes, retried_bytes = (jpeg_bytes(640 + i, 480) for i in range(3))
    with procs.gunicorn(env=env, log=tmp_path / "gunicorn.log") as base:
        kept = upload(base, enterprise_user, kept_bytes)

        seaweed.kill()
        body, content_type = multipart(refused_bytes)
        reply = timed(
            call,
            f"{base}/api/v1/images/",
            method="POST",
            headers={**auth, "Content-Type": content_type},
            body=body,
        )
        assert assert_json_503(reply) == {
            "detail": "File storage is unavailable; try again shortly."
        }
        assert reply.headers["Retry-After"]
        # What needs no file still answers: the listing shows only the stored upload.
        listing = call(f"{base}/api/v1/images/", headers=auth).json()["results"]
        assert [item["id"] for item in listing] == [kept["id"]]

        seaweed.script("up")
        wait_for(lambda: call(f"{base}/readyz").status == 200, timeout=60, what="storage back")
        retried = upload(base, enterprise_user, retried_bytes)

    rows = {str(row.pk): row for row in Image.objects.all()}
    assert set(rows) == {kept["id"], retried["id"]}
    # No object for the refused upload; the others intact after the crash.
    objects = bucket(seaweed, prefix)
    assert {key: data for key, data in objects.items() if key.startswith("originals/")} == {
        rows[kept["id"]].original_key: kept_bytes,
        rows[retried["id"]].original_key: retried_bytes,
    }
    thumbnails = {key for key in objects if key.startswith("thumbnails/")}
    assert thumbnails == set(Thumbnail.objects.values_list("key", flat=True))


def test_with_the_database_down_requests_answer_503_json(
    enterprise_user: User,
    make_user: Callable[..., User],
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    service_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """Nothing listens at the DATABASE_URL's port (the shared PostgreSQL cannot be stopped
    here; a refused connection is what a stopped one gives)."""
    image = uploaded(enterprise_user)
    link = client_for(enterprise_user).post(
        image["expiring_links"], {"expires_in": 300}, format="json"
    )
    staff = make_user("Basic", username="staff", is_staff=True, is_superuser=True)
    session = APIClient()
    session.force_login(staff)
    cookie = f"sessionid={session.cookies['sessionid'].value}"
    auth = bearer(enterprise_user)  # signed with the same SECRET_KEY, checked against no DB
    body, content_type = multipart(jpeg_bytes())
    env = {
        **service_env,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{procs.free_port()}/pixtier",
    }
    log = tmp_path / "gunicorn.log"
    with procs.gunicorn(env=env, log=log) as base:
        requests: list[tuple[str, str, dict[str, str], bytes]] = [
            ("GET", "/api/v1/me/", auth, b""),
            ("GET", "/api/v1/images/", auth, b""),
            ("GET", on("", image["url"]), auth, b""),
            ("GET", on("", image["thumbnails"][0]["url"]), auth, b""),
            ("POST", "/api/v1/images/", {**auth, "Content-Type": content_type}, body),
            ("GET", "/api/v1/images/", {"Cookie": cookie}, b""),
            ("GET", "/admin/", {"Cookie": cookie}, b""),
            ("GET", "/admin/images/image/", {"Cookie": cookie}, b""),
            ("GET", on("", link.json()["url"]), {}, b""),
            (
                "POST",
                "/api/v1/auth/token/",
                {"Content-Type": "application/json"},
                json.dumps({"username": "enterprise", "password": "x"}).encode(),
            ),
        ]
        for method, path, headers, data in requests:
            reply = timed(call, f"{base}{path}", method=method, headers=headers, body=data)
            answer = assert_json_503(reply)
            assert answer == {"detail": "The database is unavailable; try again shortly."}
        ready = assert_json_503(timed(call, f"{base}/readyz"))
        assert ready["checks"]["database"] == "down"
        assert "database" in ready["detail"]
        assert call(f"{base}/healthz").status == 200  # the process itself is fine

    assert "Internal Server Error" not in log.read_text()


def ready_heights(image_id: str) -> list[int]:
    rows = Thumbnail.objects.filter(image_id=image_id, state=Thumbnail.State.READY)
    return sorted(rows.values_list("height", flat=True))


def test_uploads_answered_201_survive_a_crash_of_every_process(
    enterprise_user: User, service_env: dict[str, str], seaweed: Seaweed, tmp_path: Path
) -> None:
    """gunicorn, the worker, Redis and SeaweedFS are SIGKILLed right after an upload is
    answered, while its thumbnails are being made; new ones serve everything. (PostgreSQL
    is the machine's shared server and is not restarted: a 201 comes after its commit.)"""
    auth = bearer(enterprise_user)
    redis_port, redis_dir = procs.free_port(), tmp_path / "redis"
    redis_dir.mkdir()
    env = {
        **service_env,
        **seaweed.client_env,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "BACKGROUND_MODE": "celery",
        # A generation the crash cut short leaves a claim; requests take it over after this.
        "THUMBNAIL_CLAIM_SECONDS": "3",
    }
    sent = {"made": jpeg_bytes(1200, 900), "cut short": jpeg_bytes(3000, 2000)}
    uploaded: dict[str, dict[str, Any]] = {}

    def processes(run: int) -> Any:
        return (
            redis_server(tmp_path / f"redis-{run}.log", port=redis_port, directory=redis_dir),
            procs.celery_worker(env=env, log=tmp_path / f"worker-{run}.log"),
            web(env, tmp_path / f"gunicorn-{run}.log"),
        )

    first_redis, first_worker, first_web = processes(1)
    with first_redis as (_, redis), first_worker as worker, first_web as (base, gunicorn):
        uploaded["made"] = upload(base, enterprise_user, sent["made"])
        wait_for(
            lambda: ready_heights(uploaded["made"]["id"]) == [200, 400],
            timeout=60,
            what="the worker's thumbnails",
        )
        uploaded["cut short"] = upload(base, enterprise_user, sent["cut short"])
        for proc in (gunicorn, worker, redis):
            kill(proc)
        seaweed.kill()

    seaweed.script("up")
    second_redis, second_worker, second_web = processes(2)
    with second_redis, second_worker, second_web as (base, _):
        listing = call(f"{base}/api/v1/images/", headers=auth).json()["results"]
        assert {item["id"] for item in listing} == {image["id"] for image in uploaded.values()}
        for name, image in uploaded.items():
            detail = call(on(base, image["url"]), headers=auth)
            assert detail.status == 200
            fields = ("id", "title", "width", "height", "content_type", "size", "uploaded_at")
            assert {f: detail.json()[f] for f in fields} == {f: image[f] for f in fields}
            original = call(on(base, image["original"]), headers=auth)
            assert original.status == 200
            assert original.body == sent[name]
            for entry in image["thumbnails"]:
                thumb = call(on(base, entry["url"]), headers=auth)
                assert thumb.status == 200, (name, thumb.body[:300])
                decoded = PILImage.open(io.BytesIO(thumb.body))
                assert (decoded.width, decoded.height) == (entry["width"], entry["height"])

    # Every row's file is whole in the bucket.
    stored = bucket(seaweed, f"{service_env['S3_LOCATION']}/")
    sent_by_id = {image["id"]: sent[name] for name, image in uploaded.items()}
    for row in Image.objects.all():
        assert stored[row.original_key] == sent_by_id[str(row.pk)]
        for ready in row.thumbnails.filter(state=Thumbnail.State.READY):
            assert len(stored[ready.key]) == ready.size
