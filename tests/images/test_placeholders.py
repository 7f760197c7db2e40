"""Placeholders (SPEC 10): every image carries a BlurHash a client can decode into a
blurred preview of the picture, and its dominant colour; images stored before they
existed get theirs from a backfill."""

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from blurhash_rs import blurhash_decode
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image as PILImage
from PIL import ImageStat

from config.celery import app as celery_app
from pixtier.accounts.models import User
from pixtier.images import placeholders, processing, tasks
from pixtier.images.models import Image
from tests.helpers import jpeg_bytes, photo, png_bytes

COLOUR = re.compile(r"^#[0-9a-f]{6}$")


def _encoded(image: PILImage.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def _mean(image: PILImage.Image) -> list[float]:
    return ImageStat.Stat(image.convert("RGB")).mean


def _decoded_mean(hash_: str) -> list[float]:
    """What a client paints: the hash decoded (by the reference decoder), averaged."""
    return _mean(blurhash_decode(hash_, 32, 32))


def _rgb(colour: str) -> list[int]:
    assert COLOUR.match(colour)
    return [int(colour[i : i + 2], 16) for i in (1, 3, 5)]


# BlurHash's base 83 digits; a hash's first one says its component counts.
BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _components(hash_: str) -> tuple[int, int]:
    flag = BASE83.index(hash_[0])
    return flag % 9 + 1, flag // 9 + 1


def test_an_upload_answers_with_a_placeholder_whose_colours_are_the_pictures(
    basic_user: User, uploaded: Callable[..., dict[str, Any]]
) -> None:
    picture = photo(800, 600)
    made = uploaded(basic_user, _encoded(picture, "JPEG"))

    assert _decoded_mean(made["placeholder"]) == pytest.approx(_mean(picture), abs=8)
    assert COLOUR.match(made["dominant_color"])
    stored = Image.objects.get(pk=made["id"])
    assert (stored.placeholder, stored.dominant_color) == (
        made["placeholder"],
        made["dominant_color"],
    )


def test_a_png_gets_a_placeholder_too(
    basic_user: User, uploaded: Callable[..., dict[str, Any]]
) -> None:
    made = uploaded(basic_user, png_bytes(400, 400, "RGB"), name="p.png", content_type="image/png")

    assert _decoded_mean(made["placeholder"]) == pytest.approx(_mean(photo(400, 400)), abs=8)


@pytest.mark.parametrize(
    ("size", "expected"),
    [((800, 600), (5, 3)), ((600, 600), (4, 4)), ((600, 800), (3, 5)), ((4000, 400), (9, 1))],
)
def test_the_hash_has_components_for_the_aspect_ratio(
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    size: tuple[int, int],
    expected: tuple[int, int],
) -> None:
    made = uploaded(basic_user, jpeg_bytes(*size))

    assert _components(made["placeholder"]) == expected


def test_the_hash_is_of_the_upright_picture(
    basic_user: User, uploaded: Callable[..., dict[str, Any]]
) -> None:
    # Stored 800x600, EXIF orientation 6: displayed 600 wide and 800 high.
    made = uploaded(basic_user, jpeg_bytes(800, 600, orientation=6))

    assert _components(made["placeholder"]) == (3, 5)


def test_the_dominant_colour_is_the_most_common_one_not_the_average() -> None:
    picture = PILImage.new("RGB", (300, 200), (200, 30, 40))
    picture.paste((20, 40, 220), (0, 0, 100, 200))  # a third blue, two thirds red

    painted = placeholders.placeholder(_vips(_encoded(picture, "PNG")))

    assert painted.dominant_color == "#c81e28"  # (200, 30, 40), lower case


def test_transparent_parts_count_for_nothing_in_the_dominant_colour() -> None:
    picture = PILImage.new("RGBA", (300, 200), (0, 0, 0, 0))
    picture.paste((10, 200, 60, 255), (0, 0, 100, 200))  # a third opaque green

    painted = placeholders.placeholder(_vips(_encoded(picture, "PNG")))

    # (10, 200, 60), give or take the rounding at the cut-out's edge.
    assert _rgb(painted.dominant_color) == pytest.approx([10, 200, 60], abs=2)
    # The hash paints the transparent two thirds as the white a page would show there.
    assert _decoded_mean(painted.blurhash)[0] > 150


def test_a_fully_transparent_picture_is_white() -> None:
    picture = PILImage.new("RGBA", (64, 64), (255, 0, 0, 0))

    painted = placeholders.placeholder(_vips(_encoded(picture, "PNG")))

    assert painted.dominant_color == "#ffffff"
    assert _decoded_mean(painted.blurhash) == pytest.approx([255, 255, 255], abs=5)


def test_a_grey_picture_has_a_grey_placeholder() -> None:
    picture = PILImage.new("L", (120, 90), 90)

    painted = placeholders.placeholder(_vips(_encoded(picture, "PNG")))

    assert painted.dominant_color == "#5a5a5a"
    assert _decoded_mean(painted.blurhash) == pytest.approx([90, 90, 90], abs=5)


def _vips(data: bytes) -> Any:
    fmt = processing.identify(data)
    info = processing.inspect(data, limits=processing.Limits(max_pixels=10**8, max_dimension=10**5))
    assert info.format == fmt
    return processing.placeholder_source(data, info)


# --- Backfill -------------------------------------------------------------------------


def _forget_placeholders() -> None:
    Image.objects.update(placeholder="", dominant_color="")


def test_the_backfill_gives_older_images_their_placeholders(
    basic_user: User, uploaded: Callable[..., dict[str, Any]]
) -> None:
    made = [uploaded(basic_user, jpeg_bytes(320 + i * 10, 240)) for i in range(3)]
    made.append(uploaded(basic_user, png_bytes(200, 200), name="a.png", content_type="image/png"))
    _forget_placeholders()
    out = io.StringIO()

    call_command("backfill_placeholders", stdout=out)

    for image in made:
        stored = Image.objects.get(pk=image["id"])
        assert stored.placeholder == image["placeholder"]
        assert stored.dominant_color == image["dominant_color"]
    assert "Gave 4 image(s) a placeholder; 0 could not be read." in out.getvalue()


def test_the_backfill_passes_over_an_unreadable_original_and_keeps_existing_ones(
    basic_user: User, uploaded: Callable[..., dict[str, Any]]
) -> None:
    lost, fine, kept = (uploaded(basic_user) for _ in range(3))
    Image.objects.filter(pk__in=[lost["id"], fine["id"]]).update(placeholder="", dominant_color="")
    Image.objects.filter(pk=kept["id"]).update(placeholder="LEHV6nWB2yk8pyo0adR*.7kCMdnj")
    default_storage.delete(Image.objects.get(pk=lost["id"]).original_key)
    out = io.StringIO()

    call_command("backfill_placeholders", stdout=out)

    assert Image.objects.get(pk=lost["id"]).placeholder == ""
    assert Image.objects.get(pk=fine["id"]).placeholder == fine["placeholder"]
    assert Image.objects.get(pk=kept["id"]).placeholder == "LEHV6nWB2yk8pyo0adR*.7kCMdnj"
    assert "1 could not be read" in out.getvalue()


def test_the_backfill_task_works_in_batches_until_none_is_left(
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = [uploaded(basic_user, jpeg_bytes(300, 200 + i)) for i in range(5)]
    _forget_placeholders()
    monkeypatch.setattr(tasks, "PLACEHOLDER_BATCH", 2)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)
    out = io.StringIO()

    call_command("backfill_placeholders", "--queue", stdout=out)

    assert sorted(Image.objects.values_list("placeholder", flat=True)) == sorted(
        image["placeholder"] for image in made
    )
