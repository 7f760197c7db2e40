"""Reads for images."""

import uuid

from django.db.models import QuerySet

from pixtier.accounts.models import User
from pixtier.accounts.selectors import tier_capabilities_load
from pixtier.common.exceptions import NotFound
from pixtier.delivery import StoredFile
from pixtier.images import processing
from pixtier.images.models import Image, Thumbnail
from pixtier.images.processing import CONTENT_TYPES, EXTENSIONS, OutputFormat

EXTENSIONS_BY_TYPE = {CONTENT_TYPES[fmt]: EXTENSIONS[fmt] for fmt in EXTENSIONS}


# What an image's representation shows (not its storage key or checksum).
_LISTED_FIELDS = (
    "id",
    "owner",
    "title",
    "width",
    "height",
    "content_type",
    "size",
    "uploaded_at",
    "placeholder",
    "dominant_color",
)


def image_list(*, owner: User) -> QuerySet[Image]:
    return Image.objects.filter(owner=owner).only(*_LISTED_FIELDS).order_by("-uploaded_at", "-id")


def image_get(*, owner: User, image_id: uuid.UUID) -> Image:
    """The caller's image; someone else's is indistinguishable from a missing one (404)."""
    image: Image | None = Image.objects.filter(pk=image_id, owner=owner).first()
    if image is None:
        raise NotFound("No such image.")
    return image


def thumbnail_heights_missing(*, image_id: uuid.UUID) -> list[int]:
    """Heights of the owner's current tier the image has no READY thumbnail in its
    original's format for yet (none when the image is gone)."""
    image = Image.objects.filter(pk=image_id).values("owner__tier_id", "content_type").first()
    if image is None:
        return []
    heights = tier_capabilities_load(tier_id=image["owner__tier_id"]).heights
    fmt = "png" if image["content_type"] == "image/png" else "jpeg"
    ready = set(
        Thumbnail.objects.filter(
            image_id=image_id, height__in=heights, format=fmt, state=Thumbnail.State.READY
        ).values_list("height", flat=True)
    )
    return [height for height in heights if height not in ready]


def thumbnail_ready(*, image_id: uuid.UUID, height: int, fmt: str) -> Thumbnail | None:
    """The READY ``fmt`` thumbnail of tier height ``height``, if made (one query)."""
    return Thumbnail.objects.filter(
        image_id=image_id, height=height, format=fmt, state=Thumbnail.State.READY
    ).first()


def _filename(image: Image, suffix: str, extension: str) -> str:
    return f"{image.title or image.pk}{suffix}.{extension}"


def stored_original(image: Image) -> StoredFile:
    return StoredFile(
        key=image.original_key,
        content_type=image.content_type,
        size=image.size,
        sha256=image.sha256,
        modified=image.uploaded_at,
        filename=_filename(image, "", EXTENSIONS_BY_TYPE[image.content_type]),
    )


def stored_thumbnail(image: Image, thumb: Thumbnail) -> StoredFile:
    # READY rows always carry these; the asserts narrow the types.
    assert thumb.size is not None
    assert thumb.created_at is not None
    fmt: OutputFormat = thumb.format  # type: ignore[assignment]
    return StoredFile(
        key=thumb.key,
        content_type=CONTENT_TYPES[fmt],
        size=thumb.size,
        sha256=thumb.sha256,
        modified=thumb.created_at,
        filename=_filename(image, f"-{thumb.height}px", EXTENSIONS[fmt]),
    )


def image_info(image: Image) -> processing.ImageInfo:
    """What processing needs to know of a stored original, from its row."""
    fmt: processing.Format = "png" if image.content_type == "image/png" else "jpeg"
    return processing.ImageInfo(format=fmt, width=image.width, height=image.height)
