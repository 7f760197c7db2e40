"""Single flight across hosts, with real processes: two gunicorn servers and a Celery
worker race for one missing thumbnail and make it once; a worker killed while writing
one leaves nothing visible, and the thumbnail is made again without anyone asking."""

import hashlib
import io
import os
import signal
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from PIL import Image as PILImage

from pixtier.accounts.models import User
from pixtier.images.models import Thumbnail
from pixtier.images.tasks import generate_thumbnails
from tests.helpers import forget_thumbnails, jpeg_bytes
from tests.integration.helpers import (
    bearer,
    bucket_objects,
    bucket_read,
    call,
    children,
    generations,
    on,
    wait_for,
)
from tests.integration.procs import celery_worker, gunicorn

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS_PER_SERVER = 8


def thumbnail_objects(height: int) -> list[str]:
    return [
        key for key in bucket_objects("thumbnails/") if Path(key).stem.split("_")[0] == str(height)
    ]


def test_two_servers_and_a_worker_make_a_missing_thumbnail_once(
    enterprise_user: User,
    uploaded: Any,
    service_env: dict[str, str],
    tmp_path: Path,
) -> None:
    image = uploaded(enterprise_user, jpeg_bytes(2400, 1800))
    forget_thumbnails(image["id"])  # a height added since the upload: made on demand
    assert not Thumbnail.objects.exists()  # nothing made in advance
    env = {**service_env, "BACKGROUND_MODE": "off"}
    logs = [tmp_path / "web-a.log", tmp_path / "web-b.log", tmp_path / "worker.log"]
    url = image["thumbnails"][0]["url"]
    assert image["thumbnails"][0]["height"] == 200

    with (
        gunicorn(env=env, log=logs[0], workers=2) as server_a,
        gunicorn(env=env, log=logs[1], workers=2) as server_b,
        celery_worker(env=env, log=logs[2]),
    ):
        # Warm every web worker (database connection, S3 client) so the race is fair.
        warm = [on(base, image["original"]) for base in (server_a, server_b)] * 4
        with ThreadPoolExecutor(len(warm)) as pool:
            for reply in pool.map(lambda u: call(u, headers=bearer(enterprise_user)), warm):
                assert reply.status == 200
        targets = [on(server_a, url), on(server_b, url)] * REQUESTS_PER_SERVER
        barrier = threading.Barrier(len(targets) + 1)
        results: list[Any] = [None] * len(targets)

        def fetch(index: int) -> None:
            try:
                barrier.wait(timeout=30)
                reply = call(targets[index], headers=bearer(enterprise_user))
                results[index] = (reply.status, reply.body)
            except BaseException as exc:
                results[index] = exc

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(len(targets))]
        for thread in threads:
            thread.start()
        barrier.wait(timeout=30)
        generate_thumbnails.delay(image["id"])  # the worker joins the race
        for thread in threads:
            thread.join(timeout=90)
        # The worker's task has finished (or, having found the claim held, scheduled its
        # look-again) before the processes stop.
        wait_for(
            lambda: (
                "generate_thumbnails" in logs[2].read_text()
                and ("succeeded" in logs[2].read_text() or "retry" in logs[2].read_text())
            ),
            timeout=30,
            what="the worker's task",
        )

    for result in results:
        if isinstance(result, BaseException):
            raise result
    assert [status for status, _ in results] == [200] * len(targets)
    bodies = {body for _, body in results}
    assert len(bodies) == 1
    body = bodies.pop()
    assert PILImage.open(io.BytesIO(body)).size == (267, 200)
    # One generation per height across all five processes' logs, one object per height.
    assert generations(logs, image["id"]) == {200: 1, 400: 1}
    assert len(thumbnail_objects(200)) == len(thumbnail_objects(400)) == 1
    thumb = Thumbnail.objects.get(image_id=image["id"], height=200)
    assert thumb.state == Thumbnail.State.READY
    assert bucket_read(thumb.key) == body
    # Each server answered its share (the race really spanned both).
    for log in logs[:2]:
        assert log.read_text().count("/thumbnails/200/") == REQUESTS_PER_SERVER


class StallingProxy:
    """A TCP proxy in front of the S3 server that sends the first thumbnail upload only
    half-way, then holds it: the state a writer killed mid-upload leaves behind."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = True
        self.stalled = threading.Event()
        self.lock = threading.Lock()

    def serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self.pipe, args=(server, client, False), daemon=True).start()
            threading.Thread(target=self.pipe, args=(client, server, True), daemon=True).start()

    def pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        budget: int | None = None  # bytes still to pass before holding the upload
        try:
            while data := source.recv(65536):
                if from_client and budget is None and self._is_thumbnail_put(data):
                    head, _, _ = data.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":", 1)[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        2048,
                    )
                    budget = len(head) + 4 + length // 2
                if budget is not None:
                    data = data[: max(budget, 0)]
                    budget -= len(data)
                    if budget <= 0:
                        self.stalled.set()
                if data:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            # The writer died: drop the upload unfinished, as the kernel would.
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def _is_thumbnail_put(self, data: bytes) -> bool:
        with self.lock:
            request_line = data.split(b"\r\n", 1)[0]
            if self.armed and request_line.startswith(b"PUT ") and b"/thumbnails/" in request_line:
                self.armed = False
                return True
        return False


@contextmanager
def stalling_proxy(endpoint: str) -> Iterator[StallingProxy]:
    parts = urlsplit(endpoint)
    proxy = StallingProxy((parts.hostname or "127.0.0.1", parts.port or 80))
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.listener.close()


def test_a_worker_killed_mid_upload_leaves_nothing_visible_and_the_thumbnail_is_made_again(
    settings: Any,
    enterprise_user: User,
    uploaded: Any,
    client_for: Any,
    service_env: dict[str, str],
    tmp_path: Path,
) -> None:
    # How long the dead process's claim blocks others: long enough that it is still held
    # when the checks below look, however loaded the machine.
    claim_seconds = 20
    settings.PIXTIER_THUMBNAIL_CLAIM_SECONDS = claim_seconds
    settings.PIXTIER_THUMBNAIL_WAIT_SECONDS = 1
    image = uploaded(enterprise_user, jpeg_bytes(2400, 1800))
    forget_thumbnails(image["id"])  # a height added since the upload: made on demand
    worker_log = tmp_path / "worker.log"
    endpoint = django_settings.STORAGES["default"]["OPTIONS"]["endpoint_url"]

    with stalling_proxy(endpoint) as proxy:
        env = {
            **service_env,
            "BACKGROUND_MODE": "celery",
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
            "THUMBNAIL_CLAIM_SECONDS": str(claim_seconds),
        }
        with celery_worker(env=env, log=worker_log) as worker:
            generate_thumbnails.delay(image["id"])
            assert proxy.stalled.wait(timeout=120), worker_log.read_text()
            # The pool process is half-way through writing a thumbnail: kill it.
            [pool_process] = children(worker.pid)
            os.kill(pool_process, signal.SIGKILL)

            # Meanwhile: the claim is held, nothing is in the bucket, nothing is served.
            assert not Thumbnail.objects.filter(state=Thumbnail.State.READY).exists()
            assert Thumbnail.objects.filter(state=Thumbnail.State.PENDING).exists()
            assert bucket_objects("thumbnails/") == {}
            early = client_for(enterprise_user).get(image["thumbnails"][0]["url"])
            assert early.status_code == 503
            assert early["Content-Type"] == "application/json"

            # The task comes back (acks_late + reject on a lost worker), waits for the dead
            # claim to go stale and makes the thumbnails, with no request asking: after the
            # claim's 20 s and the retry's countdown, well before its backoff (minutes).
            wait_for(
                lambda: Thumbnail.objects.filter(state=Thumbnail.State.READY).count() == 2,
                timeout=150,
                what=f"the thumbnails made again:\n{worker_log.read_text()}",
            )

    log = worker_log.read_text()
    assert "SIGKILL" in log or "WorkerLostError" in log
    # Rendered twice: by the killed process (never stored) and by the one that took over.
    assert generations([worker_log], image["id"]) == {200: 2, 400: 2}
    assert len(thumbnail_objects(200)) == len(thumbnail_objects(400)) == 1
    for thumb in Thumbnail.objects.filter(image_id=image["id"]):
        stored = bucket_read(thumb.key)
        assert len(stored) == thumb.size
        assert hashlib.sha256(stored).hexdigest() == thumb.sha256
        with PILImage.open(io.BytesIO(stored)) as decoded:
            decoded.load()  # complete, not cut short
            assert decoded.height == thumb.height
        served = client_for(enterprise_user).get(
            next(t["url"] for t in image["thumbnails"] if t["height"] == thumb.height)
        )
        assert served.status_code == 200
        assert served.getvalue() == stored
