"""Thumbnails in WebP and AVIF (SPEC 10): which format a request gets, and each
(image, height, format) made once, stored, transparency kept and pruned like any other."""

import io
from collections.abc import Callable
from typing import Any

import pytest
import pyvips
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageFilter

from pixtier.accounts.models import ThumbnailSize, Tier, User
from pixtier.images import negotiation, processing
from pixtier.images.models import Image, Thumbnail
from pixtier.images.negotiation import FormatRequest, UnknownFormat, thumbnail_format
from pixtier.images.thumbnails import thumbnails_generate
from tests.helpers import jpeg_bytes, png_bytes, stored_files

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
SAFARI = "image/webp,image/avif,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
FIREFOX_2019 = "image/webp,*/*"


# --- Which format --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "original", "expected"),
    [
        (None, "jpeg", "jpeg"),
        ("", "png", "png"),
        ("*/*", "jpeg", "jpeg"),
        ("image/*", "png", "png"),
        (CHROME, "jpeg", "avif"),
        (SAFARI, "png", "avif"),
        (FIREFOX_2019, "jpeg", "webp"),
        ("image/webp", "jpeg", "webp"),
        ("image/avif;q=0.5, image/webp;q=0.9, */*;q=0.1", "jpeg", "webp"),
        ("image/avif;q=0.9, image/webp;q=0.9", "png", "avif"),  # a tie goes to AVIF
        ("image/avif;q=0.5, image/jpeg", "jpeg", "jpeg"),  # the original named higher
        ("image/avif;q=0.5, image/*", "png", "png"),
        ("image/avif;q=0, image/webp;q=0, */*", "jpeg", "jpeg"),  # q=0: not acceptable
        ("IMAGE/AVIF", "jpeg", "avif"),
        ("image/avif ; q=1.0 , image/webp", "jpeg", "avif"),
        ("image/gif", "png", "png"),  # nothing acceptable: the original's all the same
        ("image/avif;q=2, image/webp;q=abc, */*", "jpeg", "jpeg"),  # malformed: skipped
        ("garbage,,;;==, /, image/webp;q=0.3", "jpeg", "webp"),
    ],
)
def test_accept_picks_avif_over_webp_over_the_original_by_quality(
    accept: str | None, original: Any, expected: str
) -> None:
    assert thumbnail_format(original=original, accept=accept, forced=None) == expected


@pytest.mark.parametrize("forced", ["jpeg", "png", "webp", "avif", "AVIF"])
def test_the_format_parameter_overrides_accept(forced: str) -> None:
    assert thumbnail_format(original="jpeg", accept=CHROME, forced=forced) == forced.lower()


@pytest.mark.parametrize("forced", ["", "jpg", "gif", "avif2", "webp,avif", "x" * 500])
def test_any_other_format_is_refused_with_the_ones_there_are(forced: str) -> None:
    with pytest.raises(UnknownFormat) as refused:
        thumbnail_format(original="jpeg", accept=None, forced=forced)

    assert "jpeg, png, webp, avif" in str(refused.value)
    assert len(str(refused.value)) < 120


def test_the_query_parameter_is_called_format() -> None:
    assert negotiation.FORMAT_PARAMETER == "format"


# --- Fewer bytes for the same picture ------------------------------------------------


def _detailed_photo(width: int, height: int) -> bytes:
    """A JPEG with a photograph's mix: fine edges (a Mandelbrot set's), soft grain and
    smooth gradients."""
    edges = PILImage.effect_mandelbrot((width, height), (-0.7454, 0.1130, -0.7425, 0.1160), 200)
    grain = PILImage.effect_noise((width, height), 24).filter(ImageFilter.GaussianBlur(1))
    ramp = PILImage.linear_gradient("L").resize((width, height))
    glow = PILImage.radial_gradient("L").resize((width, height))
    bands = (
        PILImage.blend(edges, ramp, 0.4),
        PILImage.blend(grain, glow, 0.5),
        PILImage.blend(edges, grain, 0.5),
    )
    out = io.BytesIO()
    PILImage.merge("RGB", bands).save(out, "JPEG", quality=92)
    return out.getvalue()


def _luma(image: pyvips.Image) -> pyvips.Image:
    if image.format != "uchar":  # a 10-bit AVIF decodes to 16 bits
        image = image.colourspace("srgb").cast("uchar")
    return image.colourspace("b-w")[0].cast("double")


def _ssim(encoded: bytes, reference: pyvips.Image) -> float:
    """Mean SSIM of the luma (Gaussian window, sigma 1.5), as bench/common.py measures it."""
    x, y = _luma(pyvips.Image.new_from_buffer(encoded, "")), _luma(reference)
    mx, my = x.gaussblur(1.5), y.gaussblur(1.5)
    sxx, syy = (x * x).gaussblur(1.5) - mx * mx, (y * y).gaussblur(1.5) - my * my
    sxy = (x * y).gaussblur(1.5) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    index = ((mx * my * 2 + c1) * (sxy * 2 + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(index.avg())


@pytest.mark.parametrize("height", [200, 400])
def test_avif_and_webp_thumbnails_of_a_photo_are_smaller_than_the_jpeg_and_as_faithful(
    height: int,
) -> None:
    data = _detailed_photo(1200, 900)
    picture = processing.process(data, limits=processing.DEFAULT_LIMITS, heights=[height])
    assert picture.smallest is not None
    made = {
        fmt: processing.make_thumbnails(data, heights=[height], fmt=fmt)[height].data
        for fmt in ("jpeg", "webp", "avif")
    }
    # What the background makes and keeps (a first request gets "avif").
    made["avif thorough"] = processing.make_thumbnails(
        data, heights=[height], fmt="avif", encoding="thorough"
    )[height].data
    quality = {fmt: _ssim(encoded, picture.smallest) for fmt, encoded in made.items()}

    assert len(made["avif"]) < len(made["jpeg"])
    assert len(made["webp"]) < len(made["jpeg"])
    assert len(made["avif thorough"]) < len(made["avif"])
    assert quality["avif"] >= quality["jpeg"]
    assert quality["webp"] >= quality["jpeg"]
    assert quality["avif thorough"] >= quality["jpeg"]


# --- Made, stored, pruned ------------------------------------------------------------


def _ready(image_id: str) -> set[tuple[int, str]]:
    rows = Thumbnail.objects.filter(image_id=image_id, state=Thumbnail.State.READY)
    return set(rows.values_list("height", "format"))


def _opened(thumb: Thumbnail) -> PILImage.Image:
    with default_storage.open(thumb.key, "rb") as stored:
        return PILImage.open(io.BytesIO(stored.read()))


def test_the_eager_formats_are_made_with_the_upload(
    settings: Any,
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.PIXTIER_BACKGROUND = "sync"
    settings.PIXTIER_EAGER_FORMATS = ("webp", "avif")

    with django_capture_on_commit_callbacks(execute=True):
        image = uploaded(enterprise_user, jpeg_bytes(1200, 900))

    assert _ready(image["id"]) == {
        (height, fmt) for height in (200, 400) for fmt in ("jpeg", "webp", "avif")
    }
    for thumb in Thumbnail.objects.filter(image_id=image["id"]):
        opened = _opened(thumb)
        assert (opened.format or "").lower() == {"jpeg": "jpeg", "webp": "webp", "avif": "avif"}[
            thumb.format
        ]
        assert opened.size == ({200: 267, 400: 533}[thumb.height], thumb.height)


def test_by_default_only_the_originals_format_is_made_with_the_upload(
    settings: Any,
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.PIXTIER_BACKGROUND = "sync"

    with django_capture_on_commit_callbacks(execute=True):
        image = uploaded(
            enterprise_user, png_bytes(600, 400), name="a.png", content_type="image/png"
        )

    assert _ready(image["id"]) == {(200, "png"), (400, "png")}


@pytest.mark.parametrize("fmt", ["webp", "avif", "png"])
def test_transparency_is_kept_in_webp_avif_and_png(
    basic_user: User, uploaded: Callable[..., dict[str, Any]], fmt: Any
) -> None:
    made = uploaded(basic_user, png_bytes(600, 400, "RGBA"), name="a.png", content_type="image/png")
    image = Image.objects.get(pk=made["id"])
    if fmt == "png":  # made by the upload's own decode
        assert thumbnails_generate(image=image, heights=[200], fmt=fmt) == []
    else:
        assert thumbnails_generate(image=image, heights=[200], fmt=fmt) == [200]

    opened = _opened(Thumbnail.objects.get(image=image, height=200, format=fmt))
    assert opened.mode == "RGBA"
    low, high = opened.getchannel("A").getextrema()
    # The photo's alpha ramp survived.
    assert isinstance(low, int)
    assert isinstance(high, int)
    assert low < 30
    assert high > 225


def test_a_jpeg_of_a_transparent_picture_is_painted_on_white(
    basic_user: User, uploaded: Callable[..., dict[str, Any]]
) -> None:
    picture = PILImage.new("RGBA", (300, 200), (0, 0, 0, 0))
    out = io.BytesIO()
    picture.save(out, "PNG")
    made = uploaded(basic_user, out.getvalue(), name="clear.png", content_type="image/png")
    image = Image.objects.get(pk=made["id"])

    thumbnails_generate(image=image, heights=[200], fmt="jpeg")

    opened = _opened(Thumbnail.objects.get(image=image, height=200, format="jpeg"))
    assert opened.mode == "RGB"
    assert opened.getextrema() == ((255, 255), (255, 255), (255, 255))


def test_pruning_removes_a_dropped_height_in_every_format(
    premium_user: User,
    uploaded: Callable[..., dict[str, Any]],
    tier: Callable[[str], Tier],
    django_capture_on_commit_callbacks: Any,
) -> None:
    made = uploaded(premium_user, jpeg_bytes(900, 600))
    image = Image.objects.get(pk=made["id"])
    for fmt in ("jpeg", "webp", "avif"):
        thumbnails_generate(image=image, heights=[200, 400], fmt=fmt)
    doomed = list(Thumbnail.objects.filter(image=image, height=400))
    kept = list(Thumbnail.objects.filter(image=image, height=200))
    assert len(doomed) == len(kept) == 3
    before = stored_files()

    ThumbnailSize.objects.get(tier=tier("Premium"), height=400).delete()
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("prune_thumbnails", stdout=out)

    assert "Pruned 3 thumbnail" in out.getvalue()
    assert _ready(made["id"]) == {(200, "jpeg"), (200, "webp"), (200, "avif")}
    assert stored_files() == sorted(set(before) - {thumb.key for thumb in doomed})
    for thumb in kept:
        assert default_storage.exists(thumb.key)


def test_each_format_is_made_once_and_reused(
    basic_user: User, uploaded: Callable[..., dict[str, Any]]
) -> None:
    image = Image.objects.get(pk=uploaded(basic_user)["id"])

    assert thumbnails_generate(image=image, heights=[200], fmt="avif") == [200]
    assert thumbnails_generate(image=image, heights=[200], fmt="avif") == []
    assert thumbnails_generate(image=image, heights=[200], fmt="webp") == [200]
    keys = set(Thumbnail.objects.filter(image=image).values_list("key", flat=True))
    # The JPEG one was made by the upload's own decode.
    assert {key.rsplit(".", 1)[1] for key in keys} == {"jpg", "avif", "webp"}


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_thumbnails_their_originals_format(
    basic_user: User,
) -> None:
    before = [("images", "0002_image_placeholder")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    for content_type in ("image/png", "image/jpeg"):
        image = old.get_model("images", "Image").objects.create(
            owner_id=basic_user.pk,
            original_key="k",
            width=10,
            height=10,
            content_type=content_type,
            size=1,
            sha256="x",
        )
        old.get_model("images", "Thumbnail").objects.create(
            image_id=image.pk, height=200, state="ready", claimed_at=timezone.now()
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert set(Thumbnail.objects.values_list("image__content_type", "format")) == {
        ("image/png", "png"),
        ("image/jpeg", "jpeg"),
    }


def test_a_format_request_is_checked_once_and_picks_per_original() -> None:
    with pytest.raises(UnknownFormat):
        FormatRequest.read(accept=None, forced="tiff")

    wants_webp = FormatRequest.read(accept="image/webp, image/png", forced=None)
    assert wants_webp.picks() == {"jpeg": "webp", "png": "webp"}
    prefers_png = FormatRequest.read(accept="image/png, image/webp;q=0.5", forced=None)
    assert prefers_png.picks() == {"jpeg": "webp", "png": "png"}
    assert FormatRequest.read(accept=None, forced="AVIF").picks() == {"jpeg": "avif", "png": "avif"}
