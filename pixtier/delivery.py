"""The one place that turns "serve these stored bytes" into an HTTP response.

Callers decide *whether* bytes may be served (owner and tier, or a valid link); this
module decides *how*: validators (ETag, Last-Modified) with 304/412, byte ranges,
Cache-Control, and streaming through Django's storage API.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponseBase, JsonResponse
from django.http.response import StreamingHttpResponse
from django.utils.cache import get_conditional_response
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
    if_range = request.headers.get("If-Range")
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
) -> HttpResponseBase:
    headers = {
        "ETag": stored.etag,
        "Last-Modified": http_date(stored.modified.timestamp()),
        "Cache-Control": cache_control,
    }
    if expires is not None:
        headers["Expires"] = http_date(expires.timestamp())
    if allow_range:
        headers["Accept-Ranges"] = "bytes"

    conditional = get_conditional_response(
        request, etag=stored.etag, last_modified=int(stored.modified.timestamp())
    )
    if conditional is not None:
        for name, value in headers.items():
            conditional[name] = value
        return conditional

    byte_range = None
    range_header = request.headers.get("Range")
    if allow_range and range_header and _if_range_allows(request, stored):
        try:
            byte_range = parse_range(range_header, stored.size)
        except RangeNotSatisfiable:
            detail = f"The range asked for is outside the file ({stored.size} bytes)."
            unsatisfiable = JsonResponse({"detail": detail}, status=416, headers=headers)
            unsatisfiable["Content-Range"] = f"bytes */{stored.size}"
            return unsatisfiable

    disposition = content_disposition_header(as_attachment=False, filename=stored.filename)
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
    if disposition:
        response["Content-Disposition"] = disposition
    return response
