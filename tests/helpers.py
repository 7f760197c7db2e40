"""Helpers the tests share (fixtures live in conftest.py): image bytes, uploads, links,
responses. Test modules import from here, never from each other."""

import functools
import io
import os
import posixpath
import struct
import zlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage
from rest_framework.test import APIClient

# The suite runs on either storage backend (make test-services: S3).
S3 = settings.STORAGE_BACKEND == "s3"


def stored_files(path: str = "") -> list[str]:
    """Every stored key under ``path``, listed through the storage API."""
    directories, files = default_storage.listdir(path)
    found = [posixpath.join(path, name) for name in files]
    for directory in directories:
        found += stored_files(posixpath.join(path, directory))
    return sorted(found)


def forget_thumbnails(image_id: str) -> None:
    """As if the image's tier had none of its heights when it was uploaded (a height
    added since): its thumbnails' rows and files are gone, to be made on demand."""
    from pixtier.images.models import Thumbnail

    for thumb in Thumbnail.objects.filter(image_id=image_id):
        default_storage.delete(thumb.key)  # the signal would wait for a commit
        thumb.delete()


def photo(width: int, height: int, mode: str = "RGB") -> PILImage.Image:
    """Photo-like content: smooth gradients with detail, not flat colour or noise."""
    gradient = PILImage.linear_gradient("L").resize((width, height))
    radial = PILImage.radial_gradient("L").resize((width, height))
    bands = {
        "RGB": (gradient, radial, gradient.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT)),
        "RGBA": (gradient, radial, gradient, radial),
    }
    if mode in bands:
        return PILImage.merge(mode, bands[mode])
    return PILImage.merge("RGB", bands["RGB"][:3]).convert(mode)


def _made_once(make: Callable[..., bytes]) -> Callable[..., bytes]:
    """The same arguments make the same bytes: make them once per process (hundreds of
    tests upload the same few pictures). Arguments that cannot be hashed are made afresh."""
    made = functools.cache(make)

    def bytes_of(*args: Any, **kwargs: Any) -> bytes:
        try:
            return made(*args, **kwargs)
        except TypeError:  # unhashable: a PngInfo, a list
            return make(*args, **kwargs)

    return functools.wraps(make)(bytes_of)


@_made_once
def jpeg_bytes(
    width: int = 640, height: int = 480, *, orientation: int | None = None, **save: Any
) -> bytes:
    out = io.BytesIO()
    image = photo(width, height, save.pop("mode", "RGB"))
    if orientation is not None:
        exif = PILImage.Exif()
        exif[0x0112] = orientation
        save["exif"] = exif
    image.save(out, "JPEG", quality=90, **save)
    return out.getvalue()


@_made_once
def png_bytes(width: int = 640, height: int = 480, mode: str = "RGBA", **save: Any) -> bytes:
    out = io.BytesIO()
    photo(width, height, mode).save(out, "PNG", **save)
    return out.getvalue()


def upload(
    client: APIClient,
    data: bytes,
    name: str = "photo.jpg",
    content_type: str = "image/jpeg",
    **fields: Any,
) -> Any:  # the test client's response (with .json())
    file = SimpleUploadedFile(name, data, content_type=content_type)
    return client.post("/api/v1/images/", {"file": file, **fields}, format="multipart")


# --- bytes that are images, nearly images, or claim to be ---------------------------


def encode(image: PILImage.Image, fmt: str, **save: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A 68-byte PNG whose valid header claims ``width`` x ``height``; decoding it would fail."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny real JPEG whose frame header is rewritten to claim ``width`` x ``height``."""
    data = bytearray(jpeg_bytes(16, 16))
    sof = data.index(b"\xff\xc0")  # baseline frame: marker, length, precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def corrupt_jpeg() -> bytes:
    """A JPEG with part of its compressed picture data overwritten."""
    data = bytearray(jpeg_bytes(640, 480))
    middle = len(data) // 2
    data[middle : middle + 200] = b"\x55" * 200
    return bytes(data)


def corrupt_png() -> bytes:
    """A PNG with part of its compressed picture data zeroed."""
    data = bytearray(png_bytes(640, 480))
    middle = len(data) // 2
    data[middle : middle + 100] = bytes(100)
    return bytes(data)


def raw_png(
    width: int,
    height: int,
    *,
    bit_depth: int,
    colour_type: int,
    pixel: bytes,
    header_only: bool = False,
) -> bytes:
    """A PNG written by hand, for what Pillow cannot write (16-bit colour), filled with
    ``pixel``; ``header_only`` leaves out nearly all the pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    rows = (b"\x00" + pixel * width) * (1 if header_only else height)
    idat = chunk(b"IDAT", zlib.compress(rows))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def swapped_rgb_profile() -> bytes:
    """An ICC RGB profile whose red and blue primaries are sRGB's blue and red.

    Pillow cannot make an Adobe RGB or Display P3 profile, and no profile files are
    shipped; swapped primaries make a wrong conversion (or none) plain to see.
    """

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + bytes(4) + s15(x) + s15(y) + s15(z)

    name = b"Swapped RGB\0"
    gamma_22 = b"curv" + bytes(4) + struct.pack(">IH", 1, 0x0233)
    tags = [
        (b"desc", b"desc" + bytes(4) + struct.pack(">I", len(name)) + name + bytes(78)),
        (b"cprt", b"text" + bytes(4) + b"none\0"),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.1431, 0.0606, 0.7141)),  # sRGB's blue primary (D50)
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.4361, 0.2225, 0.0139)),  # sRGB's red primary (D50)
        (b"rTRC", gamma_22),
        (b"gTRC", gamma_22),
        (b"bTRC", gamma_22),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(">I4sI", offset + len(body), bytes(4), 0x02100000)
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
    )
    return header.ljust(128, b"\0") + struct.pack(">I", len(tags)) + table + body


# --- an image, its links, and what comes back --------------------------------------


# The original the owner/image fixtures upload (conftest.py).


ORIGINAL = jpeg_bytes(640, 480)


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def assert_no_image(response: Any, status: int) -> None:
    """An error answer: the status asked for, a JSON detail, and no image bytes."""
    assert response.status_code == status, body_of(response)[:200]
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"detail"}
    assert ORIGINAL[:64] not in body_of(response)


def share(client: APIClient, image: dict[str, Any], **body: Any) -> dict[str, Any]:
    """An expiring link to ``image`` (300 s unless ``expires_in`` says otherwise)."""
    response = client.post(image["expiring_links"], {"expires_in": 300, **body}, format="json")
    assert response.status_code == 201, response.content
    link: dict[str, Any] = response.json()
    return link


def assert_json_error(response: Any, status: int) -> None:
    assert response.status_code == status, body_of(response)[:300]
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"detail"}
    assert response.json()["detail"]


def clean_env(**env: str) -> dict[str, str]:
    """The environment of a fresh process that must see exactly ``env``: nothing of this
    test run's but PATH and where Python may keep bytecode (PYTHONPYCACHEPREFIX, which
    `make test` sets: each process otherwise compiles Django's project modules anew)."""
    base = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"}
    if prefix := os.environ.get("PYTHONPYCACHEPREFIX"):
        base = {"PATH": os.environ["PATH"], "PYTHONPYCACHEPREFIX": prefix}
    return {**base, **env}
