"""Where a download's microseconds go, in process (part of ``python -m bench.access``).

Run inside the measured tree's environment by ``bench.access_run`` after it seeded the
targets. Two measurements, CPU time of this process (``time.process_time``), the least of
several interleaved rounds so that other work on the machine weighs least:

- whole requests through Django's WSGI handler (the code gunicorn calls, every
  middleware included): ``static.serve`` of the file, the owner's download, the link's;
  without Redis (PostgreSQL) and with it (warm);
- the owner's warm download taken apart, each stage timed alone in a loop: what the
  handler does for any request, the middleware, URL resolution, the bearer token, the
  Accept header, the decision (its one Redis round trip), the file response, and the
  end of the request; next to ``static.serve``'s own view.
"""

import functools
import io
import sys
import time
from collections.abc import Callable
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.test import RequestFactory, override_settings
from django.urls import get_resolver
from django.views.static import serve

ROUNDS = 7
REQUESTS = 300


def _environ(path: str, headers: dict[str, str]) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _request(app: WSGIHandler, path: str, headers: dict[str, str]) -> None:
    status: list[str] = []

    def start(given: str, _headers: Any, _exc_info: Any = None) -> Callable[[bytes], object]:
        status.append(given)
        return lambda data: None

    body: Any = app(_environ(path, headers), start)
    for _ in body:
        pass
    body.close()
    assert status[0].startswith("200"), (path, status)


def _least_us(work: dict[str, Callable[[], Any]], *, rounds: int = ROUNDS) -> dict[str, float]:
    """CPU microseconds per call of each, interleaved round by round; the least round."""
    for call in work.values():
        for _ in range(20):
            call()
    best = dict.fromkeys(work, float("inf"))
    for _ in range(rounds):
        for name, call in work.items():
            started = time.process_time()
            for _ in range(REQUESTS):
                call()
            best[name] = min(best[name], (time.process_time() - started) / REQUESTS * 1e6)
    return best


def whole_requests(
    targets: dict[str, Any], caches: dict[str, Any], *, middleware: list[str] | None = None
) -> dict[str, float]:
    """Each target through the WSGI handler; ``middleware`` replaces the settings' list."""
    changed: dict[str, Any] = {"CACHES": caches}
    if middleware is not None:
        changed["MIDDLEWARE"] = middleware
    with override_settings(**changed):
        app = WSGIHandler()
        work: dict[str, Callable[[], None]] = {
            name: functools.partial(_request, app, path, headers)
            for name, (path, headers) in targets.items()
        }
        return _least_us(work)


def stages(targets: dict[str, Any], caches: dict[str, Any], static_root: str) -> dict[str, Any]:
    """The owner's warm download (Redis) taken apart, and static.serve's view."""
    from pixtier.accounts.authentication import download_caller
    from pixtier.delivery import deliver
    from pixtier.images.access import owner_file
    from pixtier.images.api import ImageThumbnailApi, requested_formats

    owner_path, owner_headers = targets["owner thumbnail (JWT)"]
    static_path, _ = targets["static.serve (no auth)"]
    factory = RequestFactory()
    extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in owner_headers.items()}

    def request() -> HttpRequest:
        made: HttpRequest = factory.get(owner_path, **extra)
        return made

    with override_settings(CACHES=caches):
        match = get_resolver().resolve(owner_path)
        image_id, height = match.kwargs["image_id"], match.kwargs["height"]
        sample = request()
        caller = download_caller(sample)
        formats = requested_formats(sample)
        decision = owner_file(caller=caller, image_id=image_id, height=height, formats=formats)

        def delivered() -> None:
            deliver(sample, decision).close()

        def whole_view() -> None:
            ImageThumbnailApi.download(request(), image_id=image_id, height=height).close()

        def static_view() -> None:
            static = factory.get(static_path)
            serve(static, "bench/thumb.jpg", document_root=static_root).close()

        timed = _least_us(
            {
                "request object (RequestFactory, in both views' rows)": request,
                "URL resolution": lambda: get_resolver().resolve(owner_path),
                "who asks: the bearer token": lambda: download_caller(sample),
                "which format: the Accept header": lambda: requested_formats(sample),
                "the decision: one Redis round trip": lambda: owner_file(
                    caller=caller, image_id=image_id, height=height, formats=formats
                ),
                "the file response and its end (close, request_finished)": delivered,
                "owner download view, all of it": whole_view,
                "static.serve view, all of it": static_view,
            }
        )
    return timed
