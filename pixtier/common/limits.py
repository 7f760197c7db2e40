"""One request-size policy for every endpoint, applied before anything reads the body.

The first middleware: a request whose ``Content-Length`` is not a whole number of bytes
gets 400, and one that announces more than its endpoint takes gets 413, both before the
body is read (let alone spooled to a temporary file) and before any other middleware
sees the header. Endpoints take ``MAX_REQUEST_BYTES``; uploads (``UPLOADS``) take
``MAX_UPLOAD_BYTES`` and room for the multipart framing, and their view still judges the
file itself.
Bodies sent without a ``Content-Length`` (chunked) are never read by Django at all.
"""

import re
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

_DIGITS = re.compile(r"[0-9]+")
# (method, URL name) of the endpoints that take a file, and the framing around it.
UPLOADS = frozenset({("POST", "image-list")})
UPLOAD_FRAMING_BYTES = 1024 * 1024


def body_limit(request: HttpRequest) -> int:
    """The most bytes ``request``'s endpoint takes."""
    limit: int = settings.PIXTIER_MAX_REQUEST_BYTES
    try:
        name = resolve(request.path_info).view_name
    except Resolver404:
        return limit
    if (request.method, name) in UPLOADS:
        limit = max(limit, settings.PIXTIER_MAX_UPLOAD_BYTES + UPLOAD_FRAMING_BYTES)
    return limit


def _refuse(request: HttpRequest, status: int, detail: str) -> HttpResponse:
    # Nothing will read the body: runserver would otherwise read what is left of it into
    # memory after answering (django.core.servers.basehttp.ServerHandler.close).
    stream = request.META.get("wsgi.input")
    if isinstance(stream, LimitedStream):
        stream.limit = 0
    response = JsonResponse({"detail": detail}, status=status)
    # Set here: the middleware that would set it (CommonMiddleware) is not reached.
    response["Content-Length"] = str(len(response.content))
    return response


class RequestSizeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("CONTENT_LENGTH")
        if raw:
            if not _DIGITS.fullmatch(raw):
                return _refuse(
                    request, 400, "The Content-Length header must be a whole number of bytes."
                )
            length = int(raw)
            if length > settings.PIXTIER_MAX_REQUEST_BYTES and length > (
                limit := body_limit(request)
            ):
                return _refuse(
                    request,
                    413,
                    f"The request body is {length} bytes; this endpoint takes at most "
                    f"{limit} bytes.",
                )
        return self.get_response(request)
