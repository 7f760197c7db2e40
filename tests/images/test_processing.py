"""Image processing (SPEC 2): thumbnails are upright, never upscaled, sized
round(W * H / Hsrc), in the original's format, sRGB, stripped of metadata; and the
validation primitives behind uploads, tested directly."""

import io
import struct
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps
from PIL.PngImagePlugin import PngInfo
from rest_framework.test import APIClient

from pixtier.accounts.models import ThumbnailSize, Tier, User
from pixtier.common.exceptions import CorruptImage, ImageTooLarge, UnsupportedImage
from pixtier.images import processing
from tests.helpers import encode, jpeg_bytes, photo, png_bytes, raw_png, swapped_rgb_profile, upload


def expected_size(width: int, height: int, target: int) -> tuple[int, int]:
    """SPEC 2, independently: width = round(W * H / Hsrc), halves up, at least 1; never
    upscaled."""
    if target >= height:
        return width, height
    return max(1, int(Fraction(width * target, height) + Fraction(1, 2))), target


def fetch(client: APIClient, url: str) -> tuple[str, PILImage.Image]:
    """GET a thumbnail as its owner: its Content-Type and the decoded file."""
    response = client.get(url)
    assert response.status_code == 200, response.content
    image = PILImage.open(io.BytesIO(response.getvalue()))
    image.load()
    return response["Content-Type"], image


def thumbnail_of(client: APIClient, data: bytes, **kwargs: Any) -> tuple[str, PILImage.Image]:
    """Upload ``data`` and fetch its first (smallest) thumbnail."""
    response = upload(client, data, **kwargs)
    assert response.status_code == 201, response.content
    return fetch(client, response.json()["thumbnails"][0]["url"])


def pixel(image: PILImage.Image, xy: tuple[int, int], mode: str = "RGB") -> tuple[int, ...]:
    value = image.convert(mode).getpixel(xy)
    assert isinstance(value, tuple)
    return value


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 8) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


@pytest.fixture
def basic(basic_user: User, client_for: Callable[[User | None], APIClient]) -> APIClient:
    """Tier heights: 200."""
    return client_for(basic_user)


@pytest.fixture
def odd_heights(
    make_user: Callable[..., User], client_for: Callable[[User | None], APIClient]
) -> APIClient:
    """Tier heights: 1, 7, 200, 333."""
    tier = Tier.objects.create(name="Odd heights", original_link=True)
    ThumbnailSize.objects.bulk_create(ThumbnailSize(tier=tier, height=h) for h in (1, 7, 200, 333))
    return client_for(make_user("Odd heights"))


# --- Orientation ------------------------------------------------------------------------------

QUADRANTS = [(220, 30, 30), (30, 190, 30), (30, 30, 220), (235, 235, 235)]


def quadrant_photo(width: int, height: int) -> PILImage.Image:
    """Red, green / blue, white quadrants: any turn or flip moves them distinguishably."""
    image = PILImage.new("RGB", (width, height))
    half_w, half_h = width // 2, height // 2
    for colour, (x, y) in zip(
        QUADRANTS, [(0, 0), (half_w, 0), (0, half_h), (half_w, half_h)], strict=True
    ):
        image.paste(colour, (x, y, x + half_w, y + half_h))
    return image


def quadrants_of(image: PILImage.Image) -> list[int]:
    """Which colour sits in each quadrant (top left, top right, bottom left, bottom right)."""
    w, h = image.size
    centres = [
        (w // 4, h // 4),
        (3 * w // 4, h // 4),
        (w // 4, 3 * h // 4),
        (3 * w // 4, 3 * h // 4),
    ]

    def nearest(rgb: tuple[int, ...]) -> int:
        return min(
            range(4),
            key=lambda i: sum((p - q) ** 2 for p, q in zip(rgb, QUADRANTS[i], strict=True)),
        )

    return [nearest(pixel(image, centre)) for centre in centres]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_thumbnails_are_upright_for_every_exif_orientation(
    basic: APIClient, orientation: int
) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    data = encode(quadrant_photo(600, 300), "JPEG", quality=95, exif=exif)
    upright = ImageOps.exif_transpose(PILImage.open(io.BytesIO(data)))
    displayed = (600, 300) if orientation < 5 else (300, 600)
    assert upright.size == displayed  # Pillow agrees on what the viewer sees

    response = upload(basic, data)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["width"], body["height"]) == displayed
    thumb_width = 400 if orientation < 5 else 100
    assert body["thumbnails"][0]["width"] == thumb_width
    _, thumbnail = fetch(basic, body["thumbnails"][0]["url"])
    assert thumbnail.size == (thumb_width, 200)
    assert sorted(quadrants_of(upright)) == [0, 1, 2, 3]
    assert quadrants_of(thumbnail) == quadrants_of(upright)


@pytest.mark.parametrize("orientation", [0, 9, 65535])
def test_an_invalid_exif_orientation_is_ignored(basic: APIClient, orientation: int) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    data = encode(quadrant_photo(600, 300), "JPEG", quality=95, exif=exif)

    response = upload(basic, data)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["width"], body["height"], body["thumbnails"][0]["width"]) == (600, 300, 400)
    _, thumbnail = fetch(basic, body["thumbnails"][0]["url"])
    assert thumbnail.size == (400, 200)
    assert quadrants_of(thumbnail) == [0, 1, 2, 3]


def test_a_turned_png_is_upright_too(basic: APIClient) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to view
    data = encode(quadrant_photo(600, 300), "PNG", exif=exif)

    response = upload(basic, data, name="turned.png", content_type="image/png")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["width"], body["height"]) == (300, 600)
    _, thumbnail = fetch(basic, body["thumbnails"][0]["url"])
    assert thumbnail.size == (100, 200)
    assert quadrants_of(thumbnail) == [2, 0, 3, 1]


# --- Format and transparency ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "fmt"),
    [(jpeg_bytes(), "image/jpeg", "JPEG"), (png_bytes(), "image/png", "PNG")],
    ids=["jpeg", "png"],
)
def test_the_thumbnail_format_follows_the_original(
    basic: APIClient, data: bytes, content_type: str, fmt: str
) -> None:
    served_as, thumbnail = thumbnail_of(basic, data)

    assert served_as == content_type
    assert thumbnail.format == fmt


def test_png_thumbnails_keep_transparency(basic: APIClient) -> None:
    image = photo(600, 400, "RGBA")
    alpha = PILImage.new("L", image.size, 255)
    alpha.paste(0, (0, 0, 300, 400))  # left half fully transparent
    image.putalpha(alpha)

    _, thumbnail = thumbnail_of(basic, encode(image, "PNG"))

    assert (thumbnail.format, thumbnail.mode, thumbnail.size) == ("PNG", "RGBA", (300, 200))
    assert [pixel(thumbnail, (x, 100), "RGBA")[3] for x in (10, 140, 160, 290)] == [0, 0, 255, 255]


# --- Size -------------------------------------------------------------------------------------


def test_it_never_upscales(odd_heights: APIClient) -> None:
    response = upload(odd_heights, jpeg_bytes(301, 150))

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["width"], body["height"]) == (301, 150)
    files = {t["height"]: fetch(odd_heights, t["url"])[1].size for t in body["thumbnails"]}
    # 200 and 333 are taller than the original: its own size, re-encoded.
    assert files == {1: (2, 1), 7: (14, 7), 200: (301, 150), 333: (301, 150)}
    assert {t["height"]: t["width"] for t in body["thumbnails"]} == {
        1: 2,
        7: 14,
        200: 301,
        333: 301,
    }


@pytest.mark.parametrize(
    "size", [(1001, 999), (999, 1001), (641, 479), (333, 777), (4001, 301), (1234, 567)]
)
@pytest.mark.parametrize("make", [jpeg_bytes, png_bytes], ids=["jpeg", "png"])
def test_thumbnail_width_is_the_rounded_aspect_width(
    odd_heights: APIClient, size: tuple[int, int], make: Callable[[int, int], bytes]
) -> None:
    width, height = size
    body = upload(odd_heights, make(width, height)).json()

    for thumb in body["thumbnails"]:
        expected = expected_size(width, height, thumb["height"])
        assert thumb["width"] == expected[0]
        _, made = fetch(odd_heights, thumb["url"])
        assert made.size == expected


def test_a_very_tall_image_gets_thumbnails_at_least_one_pixel_wide(odd_heights: APIClient) -> None:
    body = upload(odd_heights, png_bytes(3, 5000, "RGB")).json()

    assert {t["height"]: t["width"] for t in body["thumbnails"]} == {1: 1, 7: 1, 200: 1, 333: 1}
    for thumb in body["thumbnails"]:
        _, made = fetch(odd_heights, thumb["url"])
        assert made.size == (1, thumb["height"])


def test_a_very_wide_image_keeps_its_aspect(odd_heights: APIClient) -> None:
    body = upload(odd_heights, jpeg_bytes(5000, 40)).json()

    assert {t["height"]: t["width"] for t in body["thumbnails"]} == {
        1: 125,
        7: 875,
        200: 5000,
        333: 5000,
    }
    for thumb in body["thumbnails"]:
        _, made = fetch(odd_heights, thumb["url"])
        assert made.size == expected_size(5000, 40, thumb["height"])


# --- Metadata and colour ----------------------------------------------------------------------


def test_thumbnails_carry_no_exif_or_gps(basic: APIClient) -> None:
    exif = PILImage.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0131] = "Secret Editor 1.0"  # Software
    exif.get_ifd(0x8825).update({1: "N", 2: (64.0, 8.0, 0.0), 3: "W", 4: (21.0, 56.0, 0.0)})
    data = encode(photo(600, 400), "JPEG", exif=exif, comment=b"at home")
    assert PILImage.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the source has GPS

    _, thumbnail = thumbnail_of(basic, data)

    assert dict(thumbnail.getexif()) == {}
    assert not thumbnail.getexif().get_ifd(0x8825)
    assert {"exif", "comment", "icc_profile", "xmp"}.isdisjoint(thumbnail.info)


def test_png_thumbnails_carry_no_exif_or_text(basic: APIClient) -> None:
    exif = PILImage.Exif()
    exif[0x010F] = "Canon"
    exif.get_ifd(0x8825).update({1: "N", 2: (64.0, 8.0, 0.0)})
    text = PngInfo()
    text.add_text("Author", "Jane Doe, 12 Hidden Lane")
    data = encode(photo(600, 400), "PNG", exif=exif, pnginfo=text)

    _, thumbnail = thumbnail_of(basic, data, name="x.png", content_type="image/png")

    assert dict(thumbnail.getexif()) == {}
    assert {"exif", "Author", "icc_profile"}.isdisjoint(thumbnail.info)


def test_a_cmyk_jpeg_becomes_an_rgb_jpeg_thumbnail(basic: APIClient) -> None:
    red_ink = PILImage.new("CMYK", (600, 400), (0, 255, 255, 0))  # magenta + yellow = red
    served_as, thumbnail = thumbnail_of(basic, encode(red_ink, "JPEG"))

    assert (served_as, thumbnail.format, thumbnail.mode) == ("image/jpeg", "JPEG", "RGB")
    red, green, blue = pixel(thumbnail, (150, 100))
    assert red > 180
    assert green < 80
    assert blue < 80


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_colour_is_converted_to_srgb(basic: APIClient, fmt: str, content_type: str) -> None:
    profile = swapped_rgb_profile()
    stored = (220, 40, 40)  # shows blue through the embedded profile
    source = PILImage.new("RGB", (600, 400), stored)
    srgb = ImageCms.profileToProfile(
        source, ImageCms.ImageCmsProfile(io.BytesIO(profile)), ImageCms.createProfile("sRGB")
    )
    assert srgb is not None
    seen = pixel(srgb, (0, 0))
    assert seen[2] > 200  # Pillow agrees: it is blue

    _, thumbnail = thumbnail_of(
        basic, encode(source, fmt, icc_profile=profile), content_type=content_type
    )

    assert thumbnail.mode == "RGB"
    assert near(pixel(thumbnail, (150, 100)), seen)
    assert "icc_profile" not in thumbnail.info  # plain sRGB, as browsers assume


PNG_VARIANTS = [
    pytest.param(
        raw_png(600, 400, bit_depth=16, colour_type=2, pixel=struct.pack(">3H", 65535, 32896, 0)),
        (255, 128, 0),
        id="16-bit-rgb",
    ),
    pytest.param(
        raw_png(
            600, 400, bit_depth=16, colour_type=6, pixel=struct.pack(">4H", 0, 0, 65535, 32896)
        ),
        (0, 0, 255, 128),
        id="16-bit-rgba",
    ),
    pytest.param(
        raw_png(600, 400, bit_depth=16, colour_type=0, pixel=struct.pack(">H", 16448)),
        (64, 64, 64),
        id="16-bit-grey",
    ),
    pytest.param(encode(PILImage.new("L", (600, 400), 100), "PNG"), (100, 100, 100), id="grey"),
    pytest.param(
        encode(PILImage.new("LA", (600, 400), (100, 0)), "PNG"), (None, None, None, 0), id="grey-a"
    ),
    pytest.param(encode(PILImage.new("1", (600, 400), 1), "PNG"), (255, 255, 255), id="1-bit"),
    pytest.param(
        encode(PILImage.new("RGB", (600, 400), (30, 60, 90)).quantize(4), "PNG"),
        (30, 60, 90),
        id="palette",
    ),
]


@pytest.mark.parametrize(("data", "colour"), PNG_VARIANTS)
def test_unusual_pngs_make_valid_thumbnails(
    basic: APIClient, data: bytes, colour: tuple[int | None, ...]
) -> None:
    served_as, thumbnail = thumbnail_of(basic, data, name="x.png", content_type="image/png")

    assert (served_as, thumbnail.format, thumbnail.size) == ("image/png", "PNG", (300, 200))
    actual = pixel(thumbnail, (150, 100), "RGBA" if len(colour) == 4 else "RGB")
    expected = tuple(a if e is None else e for a, e in zip(actual, colour, strict=True))
    assert near(actual, expected, tolerance=2)


def test_a_palette_png_keeps_its_transparent_pixels(basic: APIClient) -> None:
    image = photo(600, 400).quantize(16)
    image.paste(15, (0, 0, 300, 400))  # left half: palette entry 15, made transparent
    data = encode(image, "PNG", transparency=15)

    _, thumbnail = thumbnail_of(basic, data, name="x.png", content_type="image/png")

    assert pixel(thumbnail, (100, 100), "RGBA")[3] == 0
    assert pixel(thumbnail, (250, 100), "RGBA")[3] == 255


def test_a_greyscale_jpeg_makes_a_valid_thumbnail(basic: APIClient) -> None:
    data = encode(PILImage.new("L", (600, 400), 100), "JPEG")

    served_as, thumbnail = thumbnail_of(basic, data)

    assert (served_as, thumbnail.format, thumbnail.size) == ("image/jpeg", "JPEG", (300, 200))
    assert near(pixel(thumbnail, (150, 100)), (100, 100, 100), tolerance=3)


# --- thumbnail_size ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "target", "expected"),
    [
        ((800, 600), 200, (267, 200)),
        ((4000, 3000), 400, (533, 400)),
        ((3000, 4000), 200, (150, 200)),
        ((300, 150), 200, (300, 150)),  # shorter than H: the original's size
        ((300, 200), 200, (300, 200)),  # exactly H
        ((3, 5000), 200, (1, 200)),  # 0.12 would round to 0
        ((5, 2), 1, (3, 1)),  # 2.5: halves round up
        ((1, 2), 1, (1, 1)),  # 0.5
    ],
)
def test_thumbnail_size(original: tuple[int, int], target: int, expected: tuple[int, int]) -> None:
    assert processing.thumbnail_size(*original, target) == expected


sides = st.integers(min_value=1, max_value=100_000)


@given(width=sides, height=sides, target=st.integers(min_value=1, max_value=4096))
def test_thumbnail_size_keeps_the_aspect_and_never_upscales(
    width: int, height: int, target: int
) -> None:
    thumb_width, thumb_height = processing.thumbnail_size(width, height, target)

    assert thumb_height == min(target, height)
    assert 1 <= thumb_width <= width
    exact = Fraction(width * thumb_height, height)
    assert abs(thumb_width - exact) <= Fraction(1, 2) or (thumb_width == 1 and exact < 1)
    assert (thumb_width, thumb_height) == expected_size(width, height, target)


# --- identify and inspect ---------------------------------------------------------------------

LIMITS = processing.Limits(max_pixels=50_000_000, max_dimension=20_000)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (jpeg_bytes(), "jpeg"),
        (png_bytes(), "png"),
        (encode(photo(64, 48).convert("CMYK"), "JPEG"), "jpeg"),
        (jpeg_bytes()[:100], "jpeg"),  # judged by signature; decoding is inspect's job
    ],
)
def test_identify_names_pngs_and_jpegs(data: bytes, fmt: str) -> None:
    assert processing.identify(data) == fmt


@pytest.mark.parametrize(
    ("data", "received"),
    [
        (encode(photo(64, 48), "GIF"), "a GIF image"),
        (encode(photo(64, 48), "WEBP"), "a WebP image"),
        (encode(photo(64, 48), "TIFF"), "a TIFF image"),
        (encode(photo(64, 48), "PDF"), "a PDF document"),
        (encode(photo(64, 48), "BMP"), "a BMP image"),
        (b"<html><body>hi</body></html>", "an HTML document"),
        (b"id,name\n1,Ann\n", "text, not an image"),
        (b"PK\x03\x04" + bytes(100), "a ZIP archive"),
        (bytes(range(256)) * 4, "binary data that is not an image format we recognise"),
    ],
)
def test_identify_refuses_other_formats_by_name(data: bytes, received: str) -> None:
    with pytest.raises(UnsupportedImage) as refused:
        processing.identify(data)

    assert str(refused.value) == f"Only PNG and JPEG images are accepted; received {received}."


def test_identify_refuses_empty_data() -> None:
    with pytest.raises(CorruptImage, match="empty"):
        processing.identify(b"")


@pytest.mark.parametrize(
    ("orientation", "displayed"), [(None, (640, 480)), (3, (640, 480)), (6, (480, 640))]
)
def test_inspect_reports_the_displayed_size(
    orientation: int | None, displayed: tuple[int, int]
) -> None:
    info = processing.inspect(jpeg_bytes(640, 480, orientation=orientation), limits=LIMITS)

    assert (info.format, info.content_type, info.extension) == ("jpeg", "image/jpeg", "jpg")
    assert (info.width, info.height) == displayed


def test_inspect_judges_limits_from_the_header_alone() -> None:
    # One row of 20000: decoding would fail, so only the header can have been read.
    bomb = raw_png(20_000, 20_000, bit_depth=8, colour_type=2, pixel=b"\0\0\0", header_only=True)
    assert len(bomb) < 200

    with pytest.raises(ImageTooLarge, match=r"20000x20000 = 400\.0 megapixels"):
        processing.inspect(bomb, limits=LIMITS)
    with pytest.raises(CorruptImage):
        processing.inspect(
            bomb, limits=processing.Limits(max_pixels=400_000_000, max_dimension=20_000)
        )


def test_inspect_limits_are_inclusive() -> None:
    data = png_bytes(300, 200)

    info = processing.inspect(data, limits=processing.Limits(max_pixels=60_000, max_dimension=300))

    assert (info.format, info.width, info.height) == ("png", 300, 200)
    with pytest.raises(ImageTooLarge, match="megapixels"):
        processing.inspect(data, limits=processing.Limits(max_pixels=59_999, max_dimension=300))
    with pytest.raises(ImageTooLarge, match="no side may exceed 299 pixels"):
        processing.inspect(data, limits=processing.Limits(max_pixels=60_000, max_dimension=299))


@pytest.mark.parametrize(
    "data",
    [jpeg_bytes()[:-2], jpeg_bytes()[:5000], png_bytes()[:5000], png_bytes()[:-100]],
    ids=["jpeg-without-end-marker", "jpeg-half", "png-half", "png-last-data-missing"],
)
def test_inspect_refuses_truncated_files(data: bytes) -> None:
    with pytest.raises(CorruptImage, match="truncated or corrupt"):
        processing.inspect(data, limits=LIMITS)


@pytest.mark.parametrize("size", [(1, 1), (7, 3), (5000, 1), (1, 5000)])
def test_inspect_accepts_tiny_and_thin_jpegs(size: tuple[int, int]) -> None:
    info = processing.inspect(jpeg_bytes(*size), limits=LIMITS)

    assert (info.width, info.height) == size


@pytest.mark.parametrize("size", [(641, 479), (3, 5000), (5000, 3), (1, 1)])
def test_made_thumbnails_are_the_size_they_claim(size: tuple[int, int]) -> None:
    data = jpeg_bytes(*size)
    made = processing.process(data, limits=LIMITS, heights=[1, 2, 100, 200, 400]).thumbnails

    for height, thumb in made.items():
        assert (thumb.width, thumb.height) == expected_size(*size, height)
        assert PILImage.open(io.BytesIO(thumb.data)).size == (thumb.width, thumb.height)
