"""Hostile uploads: one table of every kind of input a client can throw at the upload, each
with the exact status and the message the client reads.

Every row is generated here (nothing binary is committed) and sent as a multipart body
written by hand, so file names reach the server exactly as a hostile client would send
them (Django's test client would strip their directories first). A refusal leaves nothing
behind: no row, no file. An accepted upload is stored under a key made of its UUID alone,
never the client's file name, and its thumbnail is fetched, decoded and checked.

Polyglots (a JPEG that is also an HTML page, a PNG that is also a ZIP archive) are
*accepted* as the image they decode to. Refusing them would mean refusing any bytes after
the image's end or in chunks we do not read, and that is where real files keep real data:
Ultra HDR gain maps and MPO frames after a JPEG's end marker, Photoshop and maker-note
segments, private PNG chunks. What makes a polyglot harmless is how it is served: the
original only as ``image/jpeg`` or ``image/png`` (the type found by decoding, never the
client's), with ``X-Content-Type-Options: nosniff`` and an inline file name ending in
``.jpg``/``.png``, to its owner or a link holder; and every thumbnail is re-encoded from
the pixels, so it carries none of the payload. The rows below check all of that.
"""

import functools
import io
import re
import struct
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.images.models import Image
from tests.helpers import (
    body_of,
    corrupt_jpeg,
    corrupt_png,
    encode,
    jpeg_bytes,
    jpeg_claiming,
    photo,
    png_bytes,
    png_chunk,
    png_claiming,
    raw_png,
    stored_files,
    swapped_rgb_profile,
)
from tests.images.hostile_files import interlaced_16_bit_png, many_scan_jpeg, ztxt_bomb_png

URL = "/api/v1/images/"
BOUNDARY = "----pixtier-hostile-corpus"
HTML = b"<html><body><script>alert(document.domain)</script></body></html>"
ONLY = "Only PNG and JPEG images are accepted; received "
STORED_KEY = re.compile(r"(originals/[0-9a-f]{2}/|thumbnails/[0-9a-f]{2}/[0-9a-f]{32}/)[\w.]+")


@dataclass(frozen=True)
class Part:
    """One part of a multipart body: a form field, or a file when ``filename`` is set."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def multipart(parts: list[Part]) -> bytes:
    lines = []
    for part in parts:
        disposition = f'form-data; name="{part.name}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
        if part.content_type:
            head += f"Content-Type: {part.content_type}\r\n"
        lines.append(head.encode() + b"\r\n" + part.data + b"\r\n")
    return b"".join(lines) + f"--{BOUNDARY}--\r\n".encode()


def file(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> Part:
    return Part("file", data, filename=name, content_type=content_type)


def title(value: str) -> Part:
    return Part("title", value.encode())


# --- generators ------------------------------------------------------------------------------


def segment(marker: int, payload: bytes) -> bytes:
    """A JPEG marker segment (APPn, COM)."""
    return b"\xff" + bytes([marker]) + struct.pack(">H", 2 + len(payload)) + payload


def with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def with_chunks(png: bytes, *chunks: bytes) -> bytes:
    """``chunks`` placed after IHDR (8 bytes of signature, 25 of IHDR)."""
    return png[:33] + b"".join(chunks) + png[33:]


def zip_of(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, data)
    return out.getvalue()


def jpeg_html_polyglot() -> bytes:
    """A JPEG whose comment segment holds an HTML page, and another after its end."""
    return with_segments(jpeg_bytes(320, 240), segment(0xFE, HTML)) + HTML


def png_zip_polyglot() -> bytes:
    """A PNG with a ZIP archive appended: ``unzip`` opens it, any viewer shows the PNG."""
    return png_bytes(320, 240, "RGB") + zip_of("evil.html", HTML)


def huge_exif() -> bytes:
    """100 EXIF segments of the maximum size (64 KiB each): 6.4 MB of metadata."""
    text = b"A" * 65_000
    tiff = (
        b"MM\x00\x2a"
        + struct.pack(">IH", 8, 1)
        + struct.pack(">HHII", 0x010E, 2, len(text), 26)  # ImageDescription, at offset 26
        + struct.pack(">I", 0)
        + text
    )
    app1 = segment(0xE1, (b"Exif\x00\x00" + tiff)[:65_533])
    return with_segments(jpeg_bytes(320, 240), *[app1] * 100)


def huge_icc(fmt: str) -> bytes:
    """A valid RGB profile padded to 2 MB (a JPEG carries it split over 32 segments)."""
    profile = bytearray(swapped_rgb_profile() + bytes(2_000_000))
    profile[:4] = struct.pack(">I", len(profile))
    return encode(photo(320, 240), fmt, icc_profile=bytes(profile))


def garbage_icc(fmt: str) -> bytes:
    return encode(photo(320, 240), fmt, icc_profile=b"\x00\x06\x1a\x80" + b"junk" * 100_000)


@functools.cache
def zlib_bomb() -> bytes:
    """200 KB that inflate to 200 MB of zeros."""
    return zlib.compress(bytes(200_000_000), 9)


def png_metadata_bomb(kind: bytes, header: bytes) -> bytes:
    """A PNG with a compressed text or profile chunk that inflates to 200 MB."""
    return with_chunks(png_bytes(320, 240, "RGB"), png_chunk(kind, header + zlib_bomb()))


def png_header(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A PNG with this IHDR and a few bytes of picture."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(bytes(64)))
        + png_chunk(b"IEND", b"")
    )


def png_with_bad_ihdr_crc() -> bytes:
    data = bytearray(png_bytes(320, 240, "RGB"))
    data[29] ^= 0xFF  # the IHDR chunk's CRC
    return bytes(data)


def apng() -> bytes:
    frames = [photo(320, 240), photo(320, 240).transpose(PILImage.Transpose.FLIP_LEFT_RIGHT)]
    return encode(frames[0], "PNG", save_all=True, append_images=frames[1:])


def palette_with_transparency() -> bytes:
    image = photo(320, 240).quantize(16)
    image.paste(15, (0, 0, 160, 240))
    return encode(image, "PNG", transparency=15)


def tiny_png(mode: str) -> bytes:
    return encode(PILImage.new(mode, (1, 1)), "PNG")


def jpeg_320() -> bytes:
    return jpeg_bytes(320, 240)


def png_320() -> bytes:
    return png_bytes(320, 240, "RGB")


UNICODE_TITLE = "Ísland 🌋 — 北海道, Ελλάδα, עברית"
ITXT_XMP = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00"  # compressed XMP
MARKUP = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thumb:
    """What an accepted upload's 200 px thumbnail must be."""

    format: str
    mode: str
    size: tuple[int, int]


@dataclass(frozen=True)
class Kind:
    """A hostile input: the body sent, and what the client must get back."""

    id: str
    body: Callable[[], list[Part]]
    status: int
    message: str = ""  # a substring of the error the client reads
    thumbnail: Thumb | None = None  # for accepted uploads
    title: str | None = None  # for accepted uploads: the title it gets
    settings: dict[str, Any] = field(default_factory=dict)
    # An accepted upload whose original holds a payload a browser could run.
    payload: bytes | None = None


Body = Callable[[], list[Part]]


def refused(id: str, body: Body, status: int, message: str, **kw: Any) -> Kind:
    return Kind(id, body, status, message, **kw)


def accepted(id: str, body: Body, thumbnail: Thumb, title: str = "photo", **kw: Any) -> Kind:
    return Kind(id, body, 201, thumbnail=thumbnail, title=title, **kw)


def as_jpg(make: Callable[[], bytes], name: str = "photo.jpg") -> Body:
    return lambda: [file(make(), name, "image/jpeg")]


def as_png(make: Callable[[], bytes], name: str = "photo.png") -> Body:
    return lambda: [file(make(), name, "image/png")]


def other(fmt: str) -> Callable[[], bytes]:
    return lambda: encode(photo(64, 48), fmt)


def titled(value: str) -> Body:
    return lambda: [file(jpeg_320()), title(value)]


def animated_gif() -> bytes:
    return encode(photo(64, 48), "GIF", save_all=True, append_images=[photo(64, 48).rotate(90)])


def svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def svg_with_prolog() -> bytes:
    return b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9"/>'


def png_bomb_16_bit() -> bytes:
    return raw_png(10_000, 10_000, bit_depth=16, colour_type=6, pixel=bytes(8), header_only=True)


def png_16_bit(colour_type: int, *samples: int) -> Callable[[], bytes]:
    pixel = struct.pack(f">{len(samples)}H", *samples)
    return lambda: raw_png(320, 240, bit_depth=16, colour_type=colour_type, pixel=pixel)


def converted(mode: str, fmt: str) -> Callable[[], bytes]:
    return lambda: encode(photo(320, 240).convert(mode), fmt)


def oriented(orientation: int) -> Callable[[], bytes]:
    return lambda: jpeg_bytes(320, 240, orientation=orientation)


def text_chunks() -> bytes:
    return with_chunks(png_320(), *[png_chunk(b"tEXt", b"k\x00v")] * 10_000)


def long_comment() -> bytes:
    return with_segments(jpeg_320(), segment(0xFE, b"c" * 65_533))


def two_files() -> list[Part]:
    return [file(jpeg_bytes()), file(png_bytes(), "b.png", "image/png")]


def six_files() -> list[Part]:
    return [file(jpeg_bytes(32, 32), f"{n}.jpg") for n in range(6)]


RGB_JPEG = Thumb("JPEG", "RGB", (267, 200))
RGB_PNG = Thumb("PNG", "RGB", (267, 200))
CORRUPT_JPEG = "The JPEG file is truncated or corrupt and cannot be decoded."
CORRUPT_PNG = "The PNG file is truncated or corrupt and cannot be decoded."
JPEG_HEADER = "The file looks like a JPEG but its header is corrupt."
PNG_HEADER = "The file looks like a PNG but its header is corrupt."
LIMIT = "the limit is 50 megapixels."
SMALL = {"PIXTIER_MAX_UPLOAD_BYTES": 10_000}
NO_FILE = "No file was submitted."

# fmt: off
KINDS = [
    # -- not a PNG or JPEG, whatever the name and Content-Type say: 415 ---------------------
    refused("gif-as-jpg", as_jpg(other("GIF")), 415, ONLY + "a GIF image."),
    refused("animated-gif-as-png", as_png(animated_gif), 415, ONLY + "a GIF image."),
    refused("webp-as-jpg", as_jpg(other("WEBP")), 415, ONLY + "a WebP image."),
    refused("avif-as-jpg", as_jpg(other("AVIF")), 415, ONLY + "a HEIF/AVIF image."),
    refused("bmp-as-png", as_png(other("BMP")), 415, ONLY + "a BMP image."),
    refused("tiff-as-jpg", as_jpg(other("TIFF")), 415, ONLY + "a TIFF image."),
    refused("ico-as-png", as_png(other("ICO")), 415, ONLY + "an ICO icon."),
    refused("jpeg-2000-as-jpg", as_jpg(other("JPEG2000")), 415, ONLY + "a JPEG 2000 image."),
    refused("svg-as-png", as_png(svg), 415, ONLY + "an SVG image."),
    refused("svg-with-xml-prolog-as-jpg", as_jpg(svg_with_prolog), 415, ONLY + "an SVG image."),
    refused("pdf-as-jpg", as_jpg(other("PDF")), 415, ONLY + "a PDF document."),
    refused("html-as-jpg", as_jpg(lambda: b"<!DOCTYPE html>\n" + HTML), 415,
            ONLY + "an HTML document."),
    refused("zip-as-png", as_png(lambda: zip_of("a.png", png_bytes(8, 8))), 415,
            ONLY + "a ZIP archive."),
    refused("photoshop-as-png", as_png(lambda: b"8BPS\x00\x01" + bytes(100)), 415,
            ONLY + "a Photoshop document."),
    refused("text-as-jpg", as_jpg(lambda: b"Shopping list:\n- eggs\n"), 415,
            ONLY + "text, not an image."),
    refused("executable-as-jpg", as_jpg(lambda: b"\x7fELF\x02\x01\x01" + bytes(200)), 415,
            ONLY + "binary data that is not an image format we recognise."),
    # -- empty, truncated, corrupt: 400 on the file field -------------------------------------
    refused("zero-bytes", as_jpg(lambda: b""), 400, "The submitted file is empty."),
    refused("jpeg-start-marker-only", as_jpg(lambda: b"\xff\xd8"), 400, JPEG_HEADER),
    refused("jpeg-garbage-header", as_jpg(lambda: b"\xff\xd8\xff" + b"\x13\x37" * 500), 400,
            JPEG_HEADER),
    refused("truncated-jpeg", as_jpg(lambda: jpeg_bytes(640, 480)[:6000]), 400, CORRUPT_JPEG),
    refused("jpeg-without-end-marker", as_jpg(lambda: jpeg_bytes(640, 480)[:-2]), 400,
            CORRUPT_JPEG),
    refused("corrupt-jpeg-data", as_jpg(corrupt_jpeg), 400, CORRUPT_JPEG),
    refused("png-signature-only", as_png(lambda: b"\x89PNG\r\n\x1a\n"), 400, PNG_HEADER),
    refused("truncated-png", as_png(lambda: png_bytes(640, 480)[:6000]), 400, CORRUPT_PNG),
    refused("corrupt-png-data", as_png(corrupt_png), 400, CORRUPT_PNG),
    refused("png-header-bad-checksum", as_png(png_with_bad_ihdr_crc), 400, CORRUPT_PNG),
    refused("png-zero-width", as_png(lambda: png_header(0, 10)), 400, PNG_HEADER),
    refused("png-invalid-bit-depth", as_png(lambda: png_header(10, 10, bit_depth=3)), 400,
            PNG_HEADER),
    # -- decompression bombs (a few bytes claiming gigapixels) and size limits: 413 -----------
    refused("png-bomb", as_png(lambda: png_claiming(100_000, 100_000)), 413,
            "The image is 100000x100000 = 10000.0 megapixels; " + LIMIT),
    refused("jpeg-bomb", as_jpg(lambda: jpeg_claiming(65_500, 65_500)), 413,
            "The image is 65500x65500 = 4290.2 megapixels; " + LIMIT),
    refused("png-bomb-16-bit-rgba", as_png(png_bomb_16_bit), 413,
            "The image is 10000x10000 = 100.0 megapixels; " + LIMIT),
    refused("png-one-row-too-long", as_png(lambda: png_claiming(30_000, 1)), 413,
            "The image is 30000x1 pixels; no side may exceed 20000 pixels."),
    refused("over-the-byte-limit", as_jpg(lambda: jpeg_bytes(640, 480)), 413,
            "; the limit is 10000 bytes.", settings=SMALL),
    refused("request-far-over-the-byte-limit", as_jpg(lambda: bytes(200_000)), 413,
            "the upload limit is 10000 bytes.", settings=SMALL),
    refused("megabytes-of-title", titled("x" * 3_000_000), 413,
            "The request body is too large."),
    # -- small, valid files that would cost seconds of CPU or gigabytes to decode (SPEC §9):
    # refused from their structure, before decoding: 413 naming the budget ----------------
    refused("progressive-jpeg-883-scans", as_jpg(lambda: many_scan_jpeg(7000, 7000)), 413,
            "The JPEG has more than 100 scans (progressive passes), the limit."),
    refused("progressive-colour-jpeg-2647-scans",
            as_jpg(lambda: many_scan_jpeg(7000, 7000, components=3)), 413,
            "The JPEG has more than 100 scans (progressive passes), the limit."),
    refused("progressive-jpeg-over-the-scan-work", as_jpg(lambda: many_scan_jpeg(7000, 7000)),
            413, "The JPEG's 883 scans decode 676.0 million 8x8 blocks; the limit is 50 million.",
            settings={"PIXTIER_MAX_JPEG_SCANS": 1000}),
    refused("progressive-jpeg-over-the-memory", as_jpg(lambda: many_scan_jpeg(7000, 7000)),
            413, "Decoding this progressive JPEG with 883 scans needs 98 MB of memory at once; "
            "the limit is 50 MB.", settings={"PIXTIER_MAX_JPEG_SCANS": 1000,
                                             "PIXTIER_MAX_JPEG_SCAN_BLOCKS": 10**9,
                                             "PIXTIER_MAX_DECODE_BYTES": 50_000_000}),
    refused("interlaced-16-bit-rgba-png", as_png(lambda: interlaced_16_bit_png(7000, 7000)),
            413, "Decoding this interlaced 16-bit PNG needs 392 MB of memory at once; "
            "the limit is 256 MB."),
    refused("png-over-the-chunk-count", as_png(text_chunks), 413,
            "The PNG has more than 5000 chunks, the limit.",
            settings={"PIXTIER_MAX_PNG_CHUNKS": 5000}),
    refused("png-over-the-decode-time", as_png(lambda: png_bytes(2000, 1500, "RGB")), 413,
            "Decoding the PNG took longer than the 0.001 s allowed for one image.",
            settings={"PIXTIER_MAX_DECODE_SECONDS": 0.001}),
    # -- the form itself: 400 -----------------------------------------------------------------
    refused("no-file", lambda: [title("Holiday")], 400, NO_FILE),
    refused("file-under-another-field-name",
            lambda: [Part("image", jpeg_bytes(), "photo.jpg", "image/jpeg")], 400, NO_FILE),
    refused("two-files", two_files, 400, "Send exactly one file per upload."),
    refused("six-files", six_files, 400, "Send exactly one file."),
    refused("file-part-without-a-file-name", lambda: [Part("file", jpeg_bytes())], 400,
            "The submitted data was not a file."),
    # Django drops a file whose name is only dots.
    refused("file-named-dot-dot", as_jpg(jpeg_bytes, ".."), 400, NO_FILE),
    refused("title-of-201-characters", titled("é" * 201), 400,
            "Ensure this field has no more than 200 characters."),
    refused("title-with-nul", titled("a\x00b"), 400, "Null characters are not allowed."),
    # -- names and titles: stored under the UUID alone; titles round-trip ------------------
    accepted("name-with-parent-directories", as_jpg(jpeg_320, "../../etc/passwd.jpg"),
             RGB_JPEG, title="passwd"),
    accepted("name-with-windows-parent-directories", as_png(png_320, "..\\..\\x.png"),
             RGB_PNG, title="x"),
    accepted("name-with-nul", as_jpg(jpeg_320, "photo\x00.php.jpg"), RGB_JPEG,
             title="photo.php"),
    accepted("name-with-right-to-left-override", as_jpg(jpeg_320, "invoice\u202egpj.exe"),
             RGB_JPEG, title="invoicegpj"),
    accepted("name-with-emoji", as_jpg(jpeg_320, "🌋 Ísland 2022.jpg"), RGB_JPEG,
             title="🌋 Ísland 2022"),
    accepted("title-with-parent-directories", titled("../../etc/passwd"), RGB_JPEG,
             title="../../etc/passwd"),
    accepted("title-with-unicode", titled(UNICODE_TITLE), RGB_JPEG, title=UNICODE_TITLE),
    accepted("title-of-200-emoji", titled("🌋" * 200), RGB_JPEG, title="🌋" * 200),
    accepted("title-with-header-injection", titled("a\r\nSet-Cookie: x=1"), RGB_JPEG,
             title="a\r\nSet-Cookie: x=1"),
    accepted("title-with-markup", titled(MARKUP), RGB_JPEG, title=MARKUP),
    # -- polyglots: accepted as the image they decode to (see the module docstring) -------
    accepted("jpeg-html-polyglot", as_jpg(jpeg_html_polyglot, "page.html"), RGB_JPEG,
             title="page", payload=HTML),
    accepted("png-zip-polyglot", as_png(png_zip_polyglot, "archive.zip"), RGB_PNG,
             title="archive", payload=b"PK\x03\x04"),
    # -- oversized or broken metadata: accepted, and none of it in thumbnails --------------
    accepted("huge-exif", as_jpg(huge_exif), RGB_JPEG),
    accepted("huge-icc-jpeg", as_jpg(lambda: huge_icc("JPEG")), RGB_JPEG),
    accepted("huge-icc-png", as_png(lambda: huge_icc("PNG")), RGB_PNG),
    accepted("garbage-icc-jpeg", as_jpg(lambda: garbage_icc("JPEG")), RGB_JPEG),
    accepted("garbage-icc-png", as_png(lambda: garbage_icc("PNG")), RGB_PNG),
    accepted("png-text-bomb", as_png(lambda: png_metadata_bomb(b"zTXt", b"c\x00\x00")),
             RGB_PNG),
    accepted("png-profile-bomb", as_png(lambda: png_metadata_bomb(b"iCCP", b"icc\x00\x00")),
             RGB_PNG),
    accepted("png-xmp-bomb", as_png(lambda: png_metadata_bomb(b"iTXt", ITXT_XMP)), RGB_PNG),
    accepted("png-10000-text-chunks", as_png(text_chunks), RGB_PNG),
    # Eight zTXt chunks of 50 MB each, every one under libvips's per-chunk cap: never
    # inflated (text chunks are left out of what is decoded).
    accepted("png-eight-50-mb-text-chunks", as_png(lambda: ztxt_bomb_png(png_320())), RGB_PNG),
    accepted("jpeg-64k-comment", as_jpg(long_comment), RGB_JPEG),
    # -- EXIF orientations that do not exist: ignored --------------------------------------
    accepted("exif-orientation-0", as_jpg(oriented(0)), RGB_JPEG),
    accepted("exif-orientation-9", as_jpg(oriented(9)), RGB_JPEG),
    accepted("exif-orientation-65535", as_jpg(oriented(65535)), RGB_JPEG),
    # -- unusual but supported: correct thumbnails ---------------------------------------------
    accepted("cmyk-jpeg", as_jpg(converted("CMYK", "JPEG")), RGB_JPEG),
    accepted("greyscale-jpeg", as_jpg(converted("L", "JPEG")), Thumb("JPEG", "L", (267, 200))),
    accepted("greyscale-png", as_png(converted("L", "PNG")), Thumb("PNG", "L", (267, 200))),
    accepted("16-bit-rgba-png", as_png(png_16_bit(6, 65535, 0, 0, 32768)),
             Thumb("PNG", "RGBA", (267, 200))),
    accepted("16-bit-grey-alpha-png", as_png(png_16_bit(4, 30000, 32768)),
             Thumb("PNG", "LA", (267, 200))),
    accepted("palette-png-with-transparency", as_png(palette_with_transparency),
             Thumb("PNG", "RGBA", (267, 200))),
    accepted("animated-png", as_png(apng), RGB_PNG),
    accepted("1x1-jpeg", as_jpg(lambda: jpeg_bytes(1, 1)), Thumb("JPEG", "RGB", (1, 1))),
    accepted("1x1-png", as_png(lambda: tiny_png("RGBA")), Thumb("PNG", "RGBA", (1, 1))),
    accepted("very-wide-jpeg", as_jpg(lambda: jpeg_bytes(10_000, 2)),
             Thumb("JPEG", "RGB", (10_000, 2))),
    accepted("very-tall-png", as_png(lambda: png_bytes(2, 10_000, "RGB")),
             Thumb("PNG", "RGB", (1, 200))),
]
# fmt: on


def messages(body: Any) -> Iterator[str]:
    """Every message in an error body: ``{"detail": ...}`` or DRF field errors."""
    if isinstance(body, str):
        yield body
    elif isinstance(body, dict):
        for value in body.values():
            yield from messages(value)
    elif isinstance(body, list):
        for value in body:
            yield from messages(value)


def send(client: APIClient, parts: list[Part]) -> Any:
    return client.post(
        URL, multipart(parts), content_type=f"multipart/form-data; boundary={BOUNDARY}"
    )


@pytest.fixture
def client(premium_user: User, client_for: Callable[[User | None], APIClient]) -> APIClient:
    """Premium: a 200 px thumbnail to check, and the original to fetch."""
    return client_for(premium_user)


def test_the_corpus_has_at_least_30_kinds() -> None:
    assert len(KINDS) >= 30
    assert len({kind.id for kind in KINDS}) == len(KINDS)


@pytest.mark.parametrize("kind", [k for k in KINDS if k.status != 201], ids=lambda k: k.id)
def test_a_hostile_upload_is_refused_with_a_clear_message_and_leaves_nothing(
    client: APIClient, settings: Any, kind: Kind
) -> None:
    for name, value in kind.settings.items():
        setattr(settings, name, value)

    response = send(client, kind.body())

    assert response.status_code == kind.status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    found = list(messages(response.json()))
    assert any(kind.message in message for message in found), found
    assert not Image.objects.exists()
    assert stored_files() == []


@pytest.mark.parametrize("kind", [k for k in KINDS if k.status == 201], ids=lambda k: k.id)
def test_an_unusual_upload_is_stored_under_its_id_and_makes_a_correct_thumbnail(
    client: APIClient, kind: Kind
) -> None:
    assert kind.thumbnail is not None
    parts = kind.body()
    [sent] = [part for part in parts if part.filename is not None]

    response = send(client, parts)

    assert response.status_code == 201, response.content[:500]
    image = response.json()
    assert image["title"] == kind.title
    assert image["content_type"] == f"image/{kind.thumbnail.format.lower()}"
    [key] = stored_files("originals")
    assert STORED_KEY.fullmatch(key), key
    assert uuid.UUID(image["id"]).hex in key
    # The original comes back byte for byte, typed by decoding, never sniffable.
    original = client.get(image["original"])
    assert original.status_code == 200
    assert body_of(original) == sent.data
    assert original["Content-Type"] == image["content_type"]
    assert original["X-Content-Type-Options"] == "nosniff"
    assert "\r" not in original["Content-Disposition"]
    assert "\n" not in original["Content-Disposition"]
    assert original["Content-Disposition"].startswith("inline; filename")
    assert re.search(rf'\.{key.rsplit(".", 1)[1]}"?$', original["Content-Disposition"])

    [thumb_url] = [t["url"] for t in image["thumbnails"] if t["height"] == 200]
    thumbnail = client.get(thumb_url)

    assert thumbnail.status_code == 200, body_of(thumbnail)[:500]
    assert thumbnail["Content-Type"] == image["content_type"]
    assert thumbnail["X-Content-Type-Options"] == "nosniff"
    data = body_of(thumbnail)
    with PILImage.open(io.BytesIO(data)) as made:
        made.load()
        assert (made.format, made.mode, made.size) == (
            kind.thumbnail.format,
            kind.thumbnail.mode,
            kind.thumbnail.size,
        )
        assert not made.getexif()
        assert "icc_profile" not in made.info
    assert len(data) < 200_000  # metadata stripped: only pixels
    if kind.payload is not None:
        assert kind.payload in sent.data
        assert kind.payload not in data
    assert all(STORED_KEY.fullmatch(key) for key in stored_files())


def test_a_title_with_markup_is_escaped_in_the_browsable_api(
    client: APIClient, premium_user: User
) -> None:
    image = send(client, [file(jpeg_bytes(64, 48)), title(MARKUP)]).json()
    client.force_authenticate(premium_user)

    page = client.get(image["url"], HTTP_ACCEPT="text/html")

    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>alert(2)</script>" not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
