"""Delivery through the real programs: deploy/nginx.conf on the nginx from Debian in front
of gunicorn (X-Accel-Redirect to local files), and the presigned redirect against the
real S3 server. Django decides, the proxy or the object store sends the bytes."""

import io
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils.http import http_date
from PIL import Image as PILImage

from pixtier.accounts.models import Tier, User
from pixtier.images.models import Image, Thumbnail
from tests.helpers import jpeg_bytes
from tests.integration.helpers import Reply, bearer, call
from tests.integration.procs import REPO, free_port, gunicorn, process, wait_http

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOYED_CONF = REPO / "deploy" / "nginx.conf"
ORIGINAL = jpeg_bytes(640, 480)


# --- nginx ----------------------------------------------------------------------------


def render_nginx_conf(*, listen: int, upstream: str, static_root: Path, media_root: Path) -> str:
    """deploy/nginx.conf with its deployment's address and paths swapped for these."""
    text = DEPLOYED_CONF.read_text()
    for deployed, here in {
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "server web:8000;": f"server {upstream};",
        "alias /app/var/static/;": f"alias {static_root}/;",
        "alias /app/var/media/;": f"alias {media_root}/;",
    }.items():
        assert text.count(deployed) == 1, f"deploy/nginx.conf no longer says {deployed!r}"
        text = text.replace(deployed, here)
    return text


# What the Debian package's /etc/nginx/nginx.conf (or the official image's) provides
# around the site file, with every path inside the test's directory.
MAIN_CONF = """\
{user}
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/pixtier.conf;
}}
"""


@contextmanager
def nginx(*, site_conf: str, port: int, workdir: Path) -> Iterator[str]:
    """nginx with ``site_conf`` in its http context; yields its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pixtier.conf").write_text(site_conf)
    main = workdir / "nginx.conf"
    # As root, workers would run as nobody and could not read the test's 0700 temp dirs.
    user = "user root;" if os.geteuid() == 0 else ""
    main.write_text(MAIN_CONF.format(user=user, dir=workdir))
    args = [NGINX, "-p", str(workdir), "-c", str(main), "-e", str(workdir / "error.log")]
    check = subprocess.run([*args, "-t"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    with process(args, env={}, log=workdir / "nginx.out"):
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/static/")
        yield url


# --- HTTP without a client library that follows redirects on its own ----------------


def upload(base: str, user: User, data: bytes, **headers: str) -> Reply:
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
    headers |= {**bearer(user), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    return call(f"{base}/api/v1/images/", method="POST", headers=headers, body=body)


def uploaded(base: str, user: User, data: bytes = ORIGINAL) -> dict[str, Any]:
    reply = upload(base, user, data)
    assert reply.status == 201, reply.body
    representation: dict[str, Any] = reply.json()
    return representation


def share(image: dict[str, Any], user: User, **body: Any) -> dict[str, Any]:
    headers = {**bearer(user), "Content-Type": "application/json"}
    payload = json.dumps({"expires_in": 300, **body}).encode()
    reply = call(image["expiring_links"], method="POST", headers=headers, body=payload)
    assert reply.status == 201, reply.body
    link: dict[str, Any] = reply.json()
    return link


# --- X-Accel-Redirect through nginx ---------------------------------------------------


@dataclass
class Front:
    url: str  # nginx
    media: Path


@pytest.fixture
def front(service_env: dict[str, str], tmp_path: Path) -> Iterator[Front]:
    """gunicorn in the X-Accel mode on local files, behind deploy/nginx.conf."""
    media, static = tmp_path / "front-media", tmp_path / "front-static"
    media.mkdir()
    static.mkdir()
    (static / "probe.txt").write_text("static from nginx")
    env = {
        **service_env,
        "STORAGE_BACKEND": "local",  # service_env is built for the S3 pass
        "MEDIA_ROOT": str(media),
        "DELIVERY_MODE": "x-accel",
        "BEHIND_PROXY": "1",  # as docker-compose.yml runs web
        "BACKGROUND_MODE": "off",  # thumbnails on demand; nothing left in the shared queue
        "TIER_CACHE_SECONDS": "0",  # a tier change in this process is seen at once there
    }
    port = free_port()
    with gunicorn(env=env, log=tmp_path / "gunicorn.log") as web:
        site = render_nginx_conf(
            listen=port, upstream=urlsplit(web).netloc, static_root=static, media_root=media
        )
        with nginx(site_conf=site, port=port, workdir=tmp_path / "nginx") as url:
            yield Front(url=url, media=media)


def test_nginx_serves_the_exact_bytes_with_django_s_headers(
    front: Front, enterprise_user: User
) -> None:
    # nginx sets the forwarded headers itself: a client's own are not believed.
    spoofed = upload(
        front.url,
        enterprise_user,
        ORIGINAL,
        **{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )
    assert spoofed.status == 201, spoofed.body
    image = spoofed.json()
    assert image["original"].startswith(f"{front.url}/api/v1/images/")
    row = Image.objects.get(pk=image["id"])
    assert (front.media / row.original_key).read_bytes() == ORIGINAL

    original = call(image["original"], headers=bearer(enterprise_user))
    thumbnail = call(image["thumbnails"][0]["url"], headers=bearer(enterprise_user))

    assert original.status == 200
    assert original.body == ORIGINAL
    assert original.headers["Content-Length"] == str(len(ORIGINAL))
    assert original.headers["Content-Type"] == "image/jpeg"
    assert original.headers["Content-Disposition"].startswith("inline; filename=")
    assert original.headers["Cache-Control"] == "private, no-cache"
    assert original.headers["ETag"] == f'"{row.sha256[:32]}"'
    assert original.headers.get_all("ETag") == [original.headers["ETag"]]
    assert original.headers["Last-Modified"] == http_date(row.uploaded_at.timestamp())
    assert original.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Accel-Redirect" not in original.headers
    thumb = Thumbnail.objects.get(image=row, height=200)
    assert thumbnail.status == 200
    assert thumbnail.body == (front.media / thumb.key).read_bytes()
    assert PILImage.open(io.BytesIO(thumbnail.body)).height == 200
    assert thumbnail.headers["ETag"] == f'"{thumb.sha256[:32]}"'

    head = call(image["original"], method="HEAD", headers=bearer(enterprise_user))
    assert head.status == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == str(len(ORIGINAL))


def test_nginx_answers_ranges_and_django_answers_revalidation(
    front: Front, enterprise_user: User
) -> None:
    image = uploaded(front.url, enterprise_user)
    auth = bearer(enterprise_user)
    etag = call(image["original"], headers=auth).headers["ETag"]
    size = len(ORIGINAL)

    part = call(image["original"], headers={**auth, "Range": "bytes=100-199"})
    tail = call(image["original"], headers={**auth, "Range": "bytes=-10"})
    if_range = call(image["original"], headers={**auth, "Range": "bytes=0-9", "If-Range": etag})
    stale = call(image["original"], headers={**auth, "Range": "bytes=0-9", "If-Range": '"old"'})
    beyond = call(image["original"], headers={**auth, "Range": f"bytes={size}-"})
    not_modified = call(image["original"], headers={**auth, "If-None-Match": etag})
    changed = call(image["original"], headers={**auth, "If-None-Match": '"old"'})
    holds = call(image["original"], headers={**auth, "If-Match": etag})
    fails = call(image["original"], headers={**auth, "If-Match": '"old"'})

    assert part.status == 206
    assert part.body == ORIGINAL[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{size}"
    assert tail.status == 206
    assert tail.body == ORIGINAL[-10:]
    assert if_range.status == 206  # nginx compares If-Range with Django's ETag
    assert if_range.body == ORIGINAL[:10]
    assert stale.status == 200
    assert stale.body == ORIGINAL
    assert beyond.status == 416
    assert not_modified.status == 304
    assert not_modified.body == b""
    assert not_modified.headers["ETag"] == etag
    assert changed.status == 200
    assert changed.body == ORIGINAL
    assert holds.status == 200
    assert holds.body == ORIGINAL
    assert fails.status == 412


def test_nginx_sends_nothing_django_refuses(
    front: Front, enterprise_user: User, stranger: User
) -> None:
    image = uploaded(front.url, enterprise_user)

    assert call(image["original"], headers=bearer(stranger)).status == 404
    assert call(image["thumbnails"][0]["url"], headers=bearer(stranger)).status == 404
    assert call(image["original"]).status == 401
    enterprise_user.tier = Tier.objects.get(name="Basic")
    enterprise_user.save()
    downgraded = call(image["original"], headers=bearer(enterprise_user))
    assert downgraded.status == 403
    assert ORIGINAL not in downgraded.body
    assert call(image["thumbnails"][1]["url"], headers=bearer(enterprise_user)).status == 403


def test_an_expiring_link_works_anonymously_through_nginx(
    front: Front, enterprise_user: User
) -> None:
    image = uploaded(front.url, enterprise_user)
    link = share(image, enterprise_user)
    thumbnail_link = share(image, enterprise_user, height=200)

    whole = call(link["url"])
    part = call(link["url"], headers={"Range": "bytes=0-99"})
    thumbnail = call(thumbnail_link["url"])

    assert whole.status == 200
    assert whole.body == ORIGINAL
    max_age = int(whole.headers["Cache-Control"].removeprefix("private, max-age="))
    assert 290 <= max_age <= 300
    assert whole.headers["Expires"]
    assert part.status == 206
    assert part.body == ORIGINAL[:100]
    assert thumbnail.status == 200
    assert PILImage.open(io.BytesIO(thumbnail.body)).height == 200


def test_the_internal_location_is_not_reachable_from_outside(
    front: Front, enterprise_user: User
) -> None:
    image = uploaded(front.url, enterprise_user)
    key = Image.objects.get(pk=image["id"]).original_key
    assert (front.media / key).is_file()

    direct = call(f"{front.url}/_protected/{key}")
    traversal = call(f"{front.url}/_protected/../_protected/{key}")
    static = call(f"{front.url}/static/probe.txt")

    assert direct.status == 404
    assert ORIGINAL not in direct.body
    assert traversal.status in (400, 404)
    assert ORIGINAL not in traversal.body
    assert static.status == 200  # the static location does answer from outside
    assert static.body == b"static from nginx"


def test_uploads_through_nginx_take_the_full_size_and_stop_beyond_it(
    front: Front, enterprise_user: User
) -> None:
    noise = PILImage.frombytes("RGB", (1600, 1200), os.urandom(1600 * 1200 * 3))
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=95)
    big = out.getvalue()
    assert len(big) > 1024 * 1024  # past nginx's default client_max_body_size (1m)

    image = uploaded(front.url, enterprise_user, big)
    too_big = upload(front.url, enterprise_user, b"\xff\xd8" + bytes(22 * 1024 * 1024))

    assert call(image["original"], headers=bearer(enterprise_user)).body == big
    assert too_big.status == 413
    assert Image.objects.count() == 1


# --- Presigned redirect to the S3 server ----------------------------------------------

PRESIGN_SECONDS = 2


@pytest.fixture
def redirecting(service_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    env = {
        **service_env,
        "DELIVERY_MODE": "redirect",
        "PRESIGN_SECONDS": str(PRESIGN_SECONDS),
        "BACKGROUND_MODE": "off",
    }
    with gunicorn(env=env, log=tmp_path / "gunicorn.log") as url:
        yield url


def follow(reply: Reply) -> Reply:
    assert reply.status == 302, reply.body
    return call(reply.headers["Location"])


def test_the_presigned_redirect_serves_the_right_bytes_then_dies(
    redirecting: str, enterprise_user: User, stranger: User
) -> None:
    image = uploaded(redirecting, enterprise_user)
    link = share(image, enterprise_user)

    redirect = call(image["original"], headers=bearer(enterprise_user))
    signed_at = time.monotonic()
    original = follow(redirect)
    thumbnail = follow(call(image["thumbnails"][0]["url"], headers=bearer(enterprise_user)))
    shared = follow(call(link["url"]))

    assert original.status == 200
    assert original.body == ORIGINAL
    assert original.headers["Content-Type"] == "image/jpeg"
    assert thumbnail.status == 200
    assert PILImage.open(io.BytesIO(thumbnail.body)).height == 200
    assert shared.status == 200
    assert shared.body == ORIGINAL
    location = redirect.headers["Location"]
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == [str(PRESIGN_SECONDS)]
    assert redirect.headers["Cache-Control"] == f"private, max-age={PRESIGN_SECONDS - 1}"
    assert call(image["original"], headers=bearer(stranger)).status == 404
    assert call(image["original"]).status == 401

    # The signature's clock has whole seconds: wait out the lifetime and one more second.
    time.sleep(max(0.0, signed_at + PRESIGN_SECONDS + 1.5 - time.monotonic()))
    expired = call(location)
    assert expired.status == 403
    assert ORIGINAL not in expired.body
    assert follow(call(image["original"], headers=bearer(enterprise_user))).body == ORIGINAL
