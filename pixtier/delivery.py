"""The one place that turns "serve these stored bytes" into an HTTP response.

Callers decide *whether* bytes may be served (``pixtier.images.access.owner_file`` and
``pixtier.links.access.link_file``, which return a :class:`Decision`); this module decides
*how*: validators (ETag, Last-Modified) with 304/412, then the bytes in
the way ``PIXTIER_DELIVERY`` says: streamed by Django (with byte ranges), handed to nginx
(X-Accel-Redirect to an internal location), or a 302 to a short-lived presigned URL.
"""

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.http.response import StreamingHttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import content_disposition_header, http_date, parse_http_date_safe

CHUNK_SIZE = 64 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class StoredFile:
    key: str
    content_type: str
    size: int
    sha256: str
    modified: datetime
    filename: str

    @property
    def etag(self) -> str:
        return f'"{self.sha256[:32]}"'


@dataclass(frozen=True)
class Decision:
    """What an access decision allows: this file, for clients to cache like this."""

    file: StoredFile
    cache_control: str
    expires: datetime | None = None
    allow_range: bool = False
    # False: never a presigned redirect its holder could replay uncounted (see serve()).
    replayable: bool = True
    # A thumbnail whose format was negotiated on Accept (SPEC 10): caches must know.
    negotiated: bool = False


def deliver(request: HttpRequest, decision: Decision) -> HttpResponseBase:
    """The response for an allowed request (see :func:`serve`)."""
    response = serve(
        request,
        decision.file,
        cache_control=decision.cache_control,
        expires=decision.expires,
        allow_range=decision.allow_range,
        replayable=decision.replayable,
    )
    if decision.negotiated:
        # On every answer, 304 and the redirect to the object store included.
        patch_vary_headers(response, ["Accept"])
    return response


def owner_cache_control() -> str:
    # The tier is checked on every request, so caches must revalidate (a cheap 304).
    return "private, no-cache"


def link_cache_control(remaining_seconds: int) -> str:
    return f"private, max-age={max(0, remaining_seconds)}"


class RangeNotSatisfiable(Exception):
    pass


def _position(digits: str) -> int:
    # Past this, Python refuses to parse the digits (a 500); no file is that large anyway.
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10**18


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The single byte range asked for, inclusive; ``None`` means "send it all"."""
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None  # multiple or malformed ranges: a full 200 is a valid answer
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = _position(last)
        if suffix == 0:
            raise RangeNotSatisfiable
        if size == 0:
            return None  # satisfiable, but no byte to name: the (empty) whole file
        return max(0, size - suffix), size - 1
    start = _position(first)
    end = _position(last) if last else size - 1
    if last and end < start:
        return None  # invalid (last before first): ignore the header
    if start >= size:
        raise RangeNotSatisfiable
    return start, min(end, size - 1)


def _if_range_allows(request: HttpRequest, stored: StoredFile) -> bool:
    if_range: str | None = request.META.get("HTTP_IF_RANGE")
    if not if_range:
        return True
    if if_range.startswith('"') or if_range.startswith("W/"):
        return if_range == stored.etag
    since = parse_http_date_safe(if_range)
    return since is not None and int(stored.modified.timestamp()) <= since


def _read_range(stream: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    with stream:
        stream.seek(start)
        remaining = length
        while remaining > 0:
            chunk = stream.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def serve(
    request: HttpRequest,
    stored: StoredFile,
    *,
    cache_control: str,
    expires: datetime | None = None,
    allow_range: bool = False,
    replayable: bool = True,
) -> HttpResponseBase:
    """The bytes of ``stored`` (already authorised), or 304/412 when the validators say so.

    ``replayable=False`` keeps the answer from being a presigned URL, which its holder
    could fetch again for a minute without asking: a link that counts its downloads
    streams them instead.
    """
    headers = {
        "ETag": stored.etag,
        "Last-Modified": http_date(stored.modified.timestamp()),
        "Cache-Control": cache_control,
    }
    if expires is not None:
        headers["Expires"] = http_date(expires.timestamp())

    # Conditional requests are answered here whatever the delivery mode, so a 304 costs
    # neither a storage read nor a trip through the proxy or the object store.
    conditional = get_conditional_response(
        request, etag=stored.etag, last_modified=int(stored.modified.timestamp())
    )
    if conditional is not None:
        for name, value in headers.items():
            conditional[name] = value
        if allow_range:
            conditional["Accept-Ranges"] = "bytes"
        return conditional

    mode = settings.PIXTIER_DELIVERY
    if "HTTP_IF_MATCH" in request.META or "HTTP_IF_UNMODIFIED_SINCE" in request.META:
        # nginx and the object store would judge these again against validators of their
        # own (file mtime, the object's MD5) and refuse what Django has just allowed; the
        # few clients that send them get the bytes from Django.
        mode = "django"
    if mode == "x-accel":
        return _x_accel(stored, headers)
    if mode == "redirect" and replayable:
        return _redirect(stored, cache_control=cache_control, expires=expires)
    return _stream(request, stored, headers, allow_range=allow_range)


def _stream(
    request: HttpRequest, stored: StoredFile, headers: dict[str, str], *, allow_range: bool
) -> HttpResponseBase:
    """Django reads the bytes from storage itself, answering a single byte range."""
    if allow_range:
        headers = {**headers, "Accept-Ranges": "bytes"}
    byte_range = None
    range_header = request.META.get("HTTP_RANGE")
    if allow_range and range_header and _if_range_allows(request, stored):
        try:
            byte_range = parse_range(range_header, stored.size)
        except RangeNotSatisfiable:
            detail = f"The range asked for is outside the file ({stored.size} bytes)."
            unsatisfiable = JsonResponse({"detail": detail}, status=416, headers=headers)
            unsatisfiable["Content-Range"] = f"bytes */{stored.size}"
            return unsatisfiable

    stream = default_storage.open(stored.key, "rb")
    response: HttpResponseBase
    if byte_range is None:
        response = FileResponse(stream, content_type=stored.content_type)
        response["Content-Length"] = str(stored.size)
    else:
        start, end = byte_range
        length = end - start + 1
        response = StreamingHttpResponse(
            _read_range(stream, start, length), status=206, content_type=stored.content_type
        )
        response["Content-Length"] = str(length)
        response["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
    for name, value in headers.items():
        response[name] = value
    response["Content-Disposition"] = _disposition(stored)
    return response


def _x_accel(stored: StoredFile, headers: dict[str, str]) -> HttpResponse:
    """An empty answer telling nginx which file to send from its internal location.

    nginx keeps Content-Type, Content-Disposition, Cache-Control and Expires from this
    response and serves the file (ranges included) itself; it drops ETag and Last-Modified,
    which deploy/nginx.conf puts back from ``$upstream_http_*`` so clients revalidate
    against Django's validators.
    """
    if not isinstance(default_storage, FileSystemStorage):
        raise ImproperlyConfigured("DELIVERY_MODE=x-accel needs STORAGE_BACKEND=local")
    response = HttpResponse(content_type=stored.content_type, headers=headers)
    response["Content-Disposition"] = _disposition(stored)
    prefix = settings.PIXTIER_X_ACCEL_PREFIX.rstrip("/")
    response["X-Accel-Redirect"] = f"{prefix}/{quote(stored.key)}"
    return response


def presign_seconds(expires: datetime | None) -> int:
    """How long a presigned URL may live: PRESIGN_SECONDS, never past the link's end."""
    lifetime = settings.PIXTIER_PRESIGN_SECONDS
    if expires is not None:
        left = math.floor((expires - timezone.now()).total_seconds())
        lifetime = min(lifetime, left)
    return max(1, lifetime)


def _redirect(
    stored: StoredFile, *, cache_control: str, expires: datetime | None
) -> HttpResponseRedirect:
    """302 to a presigned GET of the object, which answers with our type and caching."""
    # Imported here: boto3 is heavy, and only this mode needs it.
    from storages.backends.s3 import S3Storage

    if not isinstance(default_storage, S3Storage):
        raise ImproperlyConfigured("DELIVERY_MODE=redirect needs STORAGE_BACKEND=s3")
    lifetime = presign_seconds(expires)
    parameters = {
        "ResponseContentType": stored.content_type,
        "ResponseContentDisposition": _disposition(stored),
        "ResponseCacheControl": cache_control,
    }
    url = default_storage.url(stored.key, parameters=parameters, expire=lifetime)
    response = HttpResponseRedirect(url)
    # A cached redirect must not outlive its URL (a second of margin for the trip to the
    # object store), and carries no validators: revalidating it would get a 304 that
    # revives a dead URL.
    response["Cache-Control"] = f"private, max-age={lifetime - 1}"
    return response


def _disposition(stored: StoredFile) -> str:
    return content_disposition_header(as_attachment=False, filename=stored.filename) or "inline"


# What can make an allowed GET answer anything but the whole file.
_PARTIAL_OR_CONDITIONAL = (
    "HTTP_RANGE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
)


def asks_whole_file(request: HttpRequest) -> bool:
    """Whether this request, if allowed, is answered with the whole file from its first
    byte (sent here, by nginx or by the object store), known before its decision: a GET
    with no Range and no validators."""
    return request.method == "GET" and not any(h in request.META for h in _PARTIAL_OR_CONDITIONAL)


_FIRST_RANGE_START = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-")


def sends_from_first_byte(request: HttpRequest, response: HttpResponseBase) -> bool:
    """Whether this answer starts sending the file from its first byte: a full body (200),
    a range from offset 0 (206), or a hand-over (X-Accel-Redirect, presigned redirect)
    that nginx or the object store answers so. HEAD, 304, 412 and errors send no file."""
    if request.method != "GET":
        return False
    if response.status_code == 206:
        return response.get("Content-Range", "").startswith("bytes 0-")
    if response.status_code == 200 and "X-Accel-Redirect" not in response:
        return True  # Django sends the whole file
    if response.status_code not in (200, 302):
        return False
    # nginx or the object store will judge the Range header itself.
    range_header = request.META.get("HTTP_RANGE")
    if not range_header:
        return True
    match = _FIRST_RANGE_START.match(range_header)
    if match is None:
        return True  # not a range they honour: the whole file
    first = match.group(1)
    return first != "" and int(first) == 0


def discard(response: HttpResponseBase) -> None:
    """Close the file behind a response that will not be sent. Not ``response.close()``:
    that also signals the end of the request, which closes the database connection."""
    for close in response._resource_closers:  # type: ignore[attr-defined]
        close()
    response._resource_closers.clear()  # type: ignore[attr-defined]
