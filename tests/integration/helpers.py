"""What the integration tests share: the bucket seen through boto3 (not through Django),
plain HTTP to a running server, and reading what the processes logged."""

import http.client
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from django.conf import settings

from pixtier.accounts.authentication import access_token_issue
from pixtier.accounts.models import User


def s3_client() -> Any:
    options = settings.STORAGES["default"]["OPTIONS"]
    return boto3.client(
        "s3",
        endpoint_url=options["endpoint_url"],
        aws_access_key_id=options["access_key"],
        aws_secret_access_key=options["secret_key"],
        region_name=options["region_name"],
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )


def storage_prefix() -> str:
    """This test's key prefix in the bucket (tests/conftest.py gives each test its own)."""
    location: str = settings.STORAGES["default"]["OPTIONS"]["location"]
    assert location, "the S3 tests need a per-test location"
    return f"{location}/"


def bucket_objects(under: str = "") -> dict[str, int]:
    """Every object under this test's prefix (and ``under`` inside it): key -> size, with
    keys relative to the prefix, as list_objects_v2 reports them."""
    prefix = storage_prefix()
    found = {}
    for page in (
        s3_client()
        .get_paginator("list_objects_v2")
        .paginate(
            Bucket=settings.STORAGES["default"]["OPTIONS"]["bucket_name"], Prefix=prefix + under
        )
    ):
        for entry in page.get("Contents", ()):
            found[entry["Key"][len(prefix) :]] = entry["Size"]
    return found


def bucket_read(key: str) -> bytes:
    answer = s3_client().get_object(
        Bucket=settings.STORAGES["default"]["OPTIONS"]["bucket_name"], Key=storage_prefix() + key
    )
    return answer["Body"].read()  # type: ignore[no-any-return]


def files_on_disk(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token_issue(user=user)}"}


def call(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b""
) -> Reply:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body or None, headers=headers or {})
        answer = connection.getresponse()
        return Reply(answer.status, answer.headers, answer.read())
    finally:
        connection.close()


def upload(base: str, user: User, data: bytes, name: str = "photo.jpg") -> dict[str, Any]:
    """POST a multipart upload to a running server as ``user``; the image it made."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {**bearer(user), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    reply = call(f"{base}/api/v1/images/", method="POST", headers=headers, body=body)
    assert reply.status == 201, reply.body
    return reply.json()  # type: ignore[no-any-return]


def on(base: str, url: str) -> str:
    """``url`` (as a representation names it) on the server at ``base``."""
    parts = urlsplit(url)
    return f"{base}{parts.path}" + (f"?{parts.query}" if parts.query else "")


# "made jpeg (thorough) thumbnails [200, 400] of <id> in 12 ms" (thumbnails.thumbnails_generate)
_MADE = re.compile(r"made \w+ (?:\(\w+\) )?thumbnails \[([\d, ]+)\] of ([0-9a-f-]{36})")


def generations(logs: Iterable[Path], image_id: str) -> Counter[int]:
    """Heights made for ``image_id``, counted from the services' "made ... thumbnails" log
    lines across the processes' logs."""
    made: Counter[int] = Counter()
    for log in logs:
        for heights, image in _MADE.findall(log.read_text(errors="replace")):
            if image == image_id:
                made.update(int(h) for h in heights.split(","))
    return made


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.02)
    return result


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (a Celery worker's pool processes)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            pids.append(int(stat.parent.name))
    return pids
