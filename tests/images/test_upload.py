"""Upload validation (SPEC 5): only real PNG and JPEG within the limits get in, judged by
decoding; a refused upload says what was received and leaves nothing behind."""

import io
import struct
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.images.models import Image
from tests.helpers import (
    corrupt_jpeg,
    corrupt_png,
    encode,
    jpeg_bytes,
    jpeg_claiming,
    photo,
    png_bytes,
    png_claiming,
    stored_files,
    upload,
)

URL = "/api/v1/images/"


ISO_GAIN_MAP = b"urn:iso:std:iso:ts:21496:-1\0"


def app2(payload: bytes) -> bytes:
    return b"\xff\xe2" + struct.pack(">H", 2 + len(payload)) + payload


def ultra_hdr_jpeg(width: int, height: int) -> bytes:
    """An Ultra HDR JPEG as recent phones write it: a plain JPEG, an ISO 21496-1 gain map
    JPEG appended after it, and a Multi-Picture Format index pointing at the gain map."""
    boost = (0x59F541, 0x100000)  # HDR headroom and maximum gain: ~5.6 stops
    fractions = [(0, 1), boost, (0, 1), boost, (1, 1), (0, 1), (0, 1)]
    metadata = struct.pack(">HHB", 0, 0, 0x40) + b"".join(struct.pack(">II", *f) for f in fractions)
    gain_map = encode(PILImage.new("L", (width // 4, height // 4), 128), "JPEG")
    gain_map = gain_map[:2] + app2(ISO_GAIN_MAP + metadata) + gain_map[2:]

    primary = encode(photo(width, height), "JPEG", quality=90)
    version = app2(ISO_GAIN_MAP + bytes(4))
    mpf_size = 2 + 2 + 4 + 82  # marker, length, "MPF\0", TIFF header + index
    index_at = 2 + len(version) + 2 + 2 + 4  # MPF offsets count from its TIFF header
    primary_size = len(primary) + len(version) + mpf_size
    entries = struct.pack(">IIIHH", 0x030000, primary_size, 0, 0, 0) + struct.pack(
        ">IIIHH", 0, len(gain_map), primary_size - index_at, 0, 0
    )
    ifd = (
        struct.pack(">H", 3)
        + struct.pack(">HHI4s", 0xB000, 7, 4, b"0100")
        + struct.pack(">HHII", 0xB001, 4, 1, 2)
        + struct.pack(">HHII", 0xB002, 7, len(entries), 50)
        + bytes(4)
    )
    mpf = app2(b"MPF\0MM\x00\x2a" + struct.pack(">I", 8) + ifd + entries)
    assert len(mpf) == mpf_size
    return primary[:2] + version + mpf + primary[2:] + gain_map


@pytest.fixture
def client(basic_user: User, client_for: Callable[[User | None], APIClient]) -> APIClient:
    return client_for(basic_user)


@pytest.fixture
def premium(premium_user: User, client_for: Callable[[User | None], APIClient]) -> APIClient:
    return client_for(premium_user)


@pytest.fixture(params=["jpeg", "png"])
def make_image(request: pytest.FixtureRequest) -> Callable[[int, int], bytes]:
    if request.param == "jpeg":
        return jpeg_bytes
    return lambda width, height: png_bytes(width, height, "RGB")


def assert_nothing_stored() -> None:
    assert not Image.objects.exists()
    assert stored_files() == []


# --- Refused: not a PNG or JPEG (415) -------------------------------------------------------

NOT_PNG_OR_JPEG = [
    pytest.param(b"Shopping list:\n- eggs\n- milk\n", "notes.jpg", "text", id="text-as-jpg"),
    pytest.param(encode(photo(64, 48), "GIF"), "cat.jpg", "a GIF image", id="gif-as-jpg"),
    pytest.param(encode(photo(64, 48), "WEBP"), "cat.jpg", "a WebP image", id="webp-as-jpg"),
    pytest.param(encode(photo(64, 48), "TIFF"), "cat.png", "a TIFF image", id="tiff-as-png"),
    pytest.param(encode(photo(64, 48), "BMP"), "cat.png", "a BMP image", id="bmp-as-png"),
    pytest.param(
        b"<!DOCTYPE html>\n<html><body><img src=x onerror=alert(1)></body></html>",
        "page.png",
        "an HTML document",
        id="html-as-png",
    ),
    pytest.param(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
        "logo.png",
        "an SVG image",
        id="svg-as-png",
    ),
    pytest.param(encode(photo(64, 48), "PDF"), "scan.pdf", "a PDF document", id="pdf"),
]


@pytest.mark.parametrize(("data", "name", "received"), NOT_PNG_OR_JPEG)
def test_it_refuses_what_is_not_a_png_or_jpeg(
    client: APIClient, data: bytes, name: str, received: str
) -> None:
    response = upload(client, data, name=name, content_type="image/jpeg")

    assert response.status_code == 415, response.content
    detail = response.json()["detail"]
    assert detail.startswith("Only PNG and JPEG images are accepted")
    assert f"received {received}" in detail
    assert_nothing_stored()


# --- Refused: truncated, corrupt or empty (400) ----------------------------------------------

TRUNCATED_OR_CORRUPT = [
    pytest.param(jpeg_bytes(640, 480)[:6000], "JPEG", id="truncated-jpeg"),
    pytest.param(png_bytes(640, 480)[:6000], "PNG", id="truncated-png"),
    pytest.param(jpeg_bytes(640, 480)[:-2], "JPEG", id="jpeg-without-end-marker"),
    pytest.param(corrupt_jpeg(), "JPEG", id="corrupt-jpeg-body"),
    pytest.param(corrupt_png(), "PNG", id="corrupt-png-body"),
]


@pytest.mark.parametrize(("data", "kind"), TRUNCATED_OR_CORRUPT)
def test_it_refuses_a_truncated_or_corrupt_image(client: APIClient, data: bytes, kind: str) -> None:
    response = upload(client, data)

    assert response.status_code == 400, response.content
    assert response.json() == {
        "file": [f"The {kind} file is truncated or corrupt and cannot be decoded."]
    }
    assert_nothing_stored()


def test_it_refuses_a_jpeg_whose_header_is_garbage(client: APIClient) -> None:
    response = upload(client, b"\xff\xd8\xff" + b"\x13\x37" * 500)

    assert response.status_code == 400, response.content
    assert response.json() == {"file": ["The file looks like a JPEG but its header is corrupt."]}
    assert_nothing_stored()


def test_it_refuses_an_empty_file(client: APIClient) -> None:
    response = upload(client, b"", name="empty.jpg")

    assert response.status_code == 400, response.content
    assert "empty" in response.json()["file"][0]
    assert_nothing_stored()


# --- Refused: no file, a misnamed field, two files, a bad title (400) -------------------------


def test_it_refuses_an_upload_without_a_file(client: APIClient) -> None:
    response = client.post(URL, {"title": "Holiday"}, format="multipart")

    assert response.status_code == 400, response.content
    assert response.json() == {"file": ["No file was submitted."]}
    assert_nothing_stored()


def test_it_refuses_a_file_sent_under_another_field_name(client: APIClient) -> None:
    image = SimpleUploadedFile("photo.jpg", jpeg_bytes(), content_type="image/jpeg")
    response = client.post(URL, {"image": image}, format="multipart")

    assert response.status_code == 400, response.content
    assert response.json() == {"file": ["No file was submitted."]}
    assert_nothing_stored()


def test_it_refuses_two_files_in_one_upload(client: APIClient) -> None:
    files = [
        SimpleUploadedFile("a.jpg", jpeg_bytes(), content_type="image/jpeg"),
        SimpleUploadedFile("b.png", png_bytes(), content_type="image/png"),
    ]
    response = client.post(URL, {"file": files}, format="multipart")

    assert response.status_code == 400, response.content
    assert response.json() == {"file": ["Send exactly one file per upload."]}
    assert_nothing_stored()


def test_it_refuses_more_files_than_a_request_may_carry(client: APIClient) -> None:
    files = [SimpleUploadedFile(f"{n}.jpg", jpeg_bytes(32, 32)) for n in range(6)]
    response = client.post(URL, {"file": files}, format="multipart")

    assert response.status_code == 400, response.content
    assert response.json() == {"file": ["Send exactly one file."]}
    assert_nothing_stored()


def test_it_refuses_text_in_place_of_the_file(client: APIClient) -> None:
    response = client.post(URL, {"file": "photo.jpg"}, format="multipart")

    assert response.status_code == 400, response.content
    assert "not a file" in response.json()["file"][0]
    assert_nothing_stored()


def test_it_refuses_a_json_body(client: APIClient) -> None:
    response = client.post(URL, {"file": "photo.jpg"}, format="json")

    assert response.status_code == 415, response.content
    assert "application/json" in response.json()["detail"]
    assert_nothing_stored()


def test_it_refuses_a_title_over_200_characters(client: APIClient) -> None:
    response = upload(client, jpeg_bytes(), title="x" * 201)

    assert response.status_code == 400, response.content
    assert "200 characters" in response.json()["title"][0]
    assert_nothing_stored()


def test_it_accepts_a_title_of_exactly_200_characters(client: APIClient) -> None:
    response = upload(client, jpeg_bytes(), title="x" * 200)

    assert response.status_code == 201, response.content
    assert response.json()["title"] == "x" * 200


# --- Refused: too large (413) -----------------------------------------------------------------


def test_it_refuses_a_file_over_the_upload_limit(client: APIClient, settings: Any) -> None:
    data = jpeg_bytes(640, 480)
    settings.PIXTIER_MAX_UPLOAD_BYTES = len(data) - 1

    response = upload(client, data)

    assert response.status_code == 413, response.content
    assert response.json() == {
        "detail": f"The file is {len(data)} bytes; the limit is {len(data) - 1} bytes."
    }
    assert_nothing_stored()


def test_it_refuses_a_request_far_over_the_upload_limit(client: APIClient, settings: Any) -> None:
    settings.PIXTIER_MAX_UPLOAD_BYTES = 1000
    data = jpeg_bytes(3000, 2000)
    assert len(data) > 1000 + 64 * 1024  # more than any multipart framing

    response = upload(client, data)

    assert response.status_code == 413, response.content
    detail = response.json()["detail"]
    assert detail.startswith("The request is ")
    assert detail.endswith("the upload limit is 1000 bytes.")
    assert_nothing_stored()


def test_it_accepts_a_file_of_exactly_the_upload_limit(client: APIClient, settings: Any) -> None:
    data = jpeg_bytes(640, 480)
    settings.PIXTIER_MAX_UPLOAD_BYTES = len(data)

    response = upload(client, data)

    assert response.status_code == 201, response.content
    assert response.json()["size"] == len(data)


@pytest.mark.parametrize(
    "data", [png_claiming(20_000, 20_000), jpeg_claiming(20_000, 20_000)], ids=["png", "jpeg"]
)
def test_it_refuses_a_pixel_bomb(client: APIClient, data: bytes) -> None:
    # A few hundred bytes claiming 400 megapixels. Had it been decoded, the missing pixel
    # data would have made it a 400; the 413 shows the header alone refused it.
    assert len(data) < 1000

    response = upload(client, data)

    assert response.status_code == 413, response.content
    assert response.json() == {
        "detail": "The image is 20000x20000 = 400.0 megapixels; the limit is 50 megapixels."
    }
    assert_nothing_stored()


def test_it_refuses_a_real_image_over_the_pixel_limit(client: APIClient, settings: Any) -> None:
    settings.PIXTIER_MAX_PIXELS = 1_000_000

    response = upload(client, jpeg_bytes(1250, 1000))

    assert response.status_code == 413, response.content
    assert response.json() == {
        "detail": "The image is 1250x1000 = 1.2 megapixels; the limit is 1 megapixels."
    }
    assert_nothing_stored()


def test_it_accepts_an_image_of_exactly_the_pixel_limit(client: APIClient, settings: Any) -> None:
    settings.PIXTIER_MAX_PIXELS = 1_000_000

    response = upload(client, jpeg_bytes(1000, 1000))

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "data", [png_claiming(30_000, 10), jpeg_claiming(10, 30_000)], ids=["png", "jpeg"]
)
def test_it_refuses_an_image_over_the_maximum_dimension(client: APIClient, data: bytes) -> None:
    response = upload(client, data)

    assert response.status_code == 413, response.content
    detail = response.json()["detail"]
    assert detail.endswith("pixels; no side may exceed 20000 pixels.")
    assert "30000" in detail
    assert_nothing_stored()


def test_it_refuses_a_real_image_over_a_configured_maximum_dimension(
    client: APIClient, settings: Any
) -> None:
    settings.PIXTIER_MAX_DIMENSION = 500

    response = upload(client, png_bytes(100, 501), name="tall.png", content_type="image/png")

    assert response.status_code == 413, response.content
    assert response.json() == {
        "detail": "The image is 100x501 pixels; no side may exceed 500 pixels."
    }
    assert_nothing_stored()


# --- Accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "content_type", "size"),
    [
        pytest.param(jpeg_bytes(641, 479), "photo.jpg", "image/jpeg", (641, 479), id="jpeg"),
        pytest.param(png_bytes(333, 200), "drawing.png", "image/png", (333, 200), id="png"),
    ],
)
def test_it_stores_a_png_or_jpeg_byte_for_byte(
    premium: APIClient,
    data: bytes,
    name: str,
    content_type: str,
    size: tuple[int, int],
) -> None:
    response = upload(premium, data, name=name, content_type=content_type, title="Mine")

    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"] == body["url"]
    assert (body["title"], body["width"], body["height"]) == ("Mine", *size)
    assert (body["content_type"], body["size"]) == (content_type, len(data))
    original = premium.get(body["original"])
    assert original.status_code == 200
    assert original["Content-Type"] == content_type
    assert original.getvalue() == data
    assert Image.objects.count() == 1
    assert len(stored_files("originals")) == 1
    assert len(stored_files("thumbnails")) == 2  # the Premium tier's heights


def test_the_title_defaults_to_the_file_name_without_extension(client: APIClient) -> None:
    response = upload(client, jpeg_bytes(), name="Iceland 2022.jpeg")

    assert response.status_code == 201, response.content
    assert response.json()["title"] == "Iceland 2022"


def test_a_blank_title_also_defaults_to_the_file_name(client: APIClient) -> None:
    response = upload(client, jpeg_bytes(), name="sunset.final.jpg", title="")

    assert response.status_code == 201, response.content
    assert response.json()["title"] == "sunset.final"


@pytest.mark.parametrize(
    ("data", "name", "claimed_type", "actual_type"),
    [
        pytest.param(png_bytes(), "photo.jpg", "image/jpeg", "image/png", id="png-as-jpeg"),
        pytest.param(jpeg_bytes(), "scan.png", "image/png", "image/jpeg", id="jpeg-as-png"),
        pytest.param(png_bytes(), "upload", "application/octet-stream", "image/png", id="bare"),
    ],
)
def test_the_content_decides_the_type_not_the_name_or_content_type(
    premium: APIClient,
    data: bytes,
    name: str,
    claimed_type: str,
    actual_type: str,
) -> None:
    response = upload(premium, data, name=name, content_type=claimed_type)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["content_type"] == actual_type
    original = premium.get(body["original"])
    assert original["Content-Type"] == actual_type
    assert original.getvalue() == data
    [stored] = stored_files("originals")
    assert stored.endswith(".png" if actual_type == "image/png" else ".jpg")


JPEG_VARIANTS = [
    pytest.param(encode(photo(320, 240), "JPEG", progressive=True), id="progressive"),
    pytest.param(encode(photo(320, 240), "JPEG", optimize=True, quality=100), id="optimized"),
    pytest.param(encode(photo(320, 240), "JPEG", subsampling=0), id="4:4:4"),
    pytest.param(encode(photo(320, 240), "JPEG", restart_marker_blocks=4), id="restart-markers"),
    pytest.param(encode(photo(320, 240).convert("L"), "JPEG"), id="greyscale"),
    pytest.param(encode(photo(320, 240).convert("CMYK"), "JPEG"), id="cmyk"),
    pytest.param(encode(photo(320, 240), "JPEG", comment=b"shot on film"), id="comment"),
    pytest.param(jpeg_bytes(320, 240) + b"\0junk after the end marker", id="trailing-bytes"),
    pytest.param(
        encode(photo(320, 240), "MPO", save_all=True, append_images=[photo(64, 48)]),
        id="multi-picture",
    ),
    pytest.param(ultra_hdr_jpeg(320, 240), id="ultra-hdr"),
]


@pytest.mark.parametrize("data", JPEG_VARIANTS)
def test_it_accepts_the_jpegs_cameras_and_phones_write(client: APIClient, data: bytes) -> None:
    assert PILImage.open(io.BytesIO(data)).size == (320, 240)  # a JPEG to any other reader

    response = upload(client, data)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 320, 240)
    thumbnail = client.get(body["thumbnails"][0]["url"])
    assert thumbnail.status_code == 200
    with PILImage.open(io.BytesIO(thumbnail.getvalue())) as made:
        assert (made.format, made.size) == ("JPEG", (267, 200))


@pytest.mark.parametrize("size", [(1, 1), (5000, 1), (1, 5000), (7, 3)])
def test_it_accepts_images_of_extreme_shapes(
    client: APIClient, size: tuple[int, int], make_image: Callable[[int, int], bytes]
) -> None:
    response = upload(client, make_image(*size))

    assert response.status_code == 201, response.content
    assert (response.json()["width"], response.json()["height"]) == size
