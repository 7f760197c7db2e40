"""Reads for images."""

import uuid

from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from pixtier.accounts.models import User
from pixtier.accounts.selectors import tier_capabilities_load
from pixtier.common.cache import cache_forget, cache_get, cache_set
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
    return get_object_or_404(Image, pk=image_id, owner=owner)


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


def _thumbnail_key(image_id: uuid.UUID, height: int, fmt: str) -> str:
    return f"pixtier:thumbnail-ready:{image_id}:{height}:{fmt}"


def thumbnail_ready(*, image_id: uuid.UUID, height: int, fmt: str) -> Thumbnail | None:
    """The READY ``fmt`` thumbnail of tier height ``height``, if made: one query, or none
    while cached. A READY row never changes, it only goes (``pixtier.images.signals``
    forgets it then); rows not READY yet are never cached."""
    timeout = settings.PIXTIER_DOWNLOAD_CACHE_SECONDS
    key = _thumbnail_key(image_id, height, fmt)
    if timeout > 0:
        cached: Thumbnail | None = cache_get(key)
        if cached is not None:
            return cached
    thumb = Thumbnail.objects.filter(
        image_id=image_id, height=height, format=fmt, state=Thumbnail.State.READY
    ).first()
    if thumb is not None and timeout > 0:
        cache_set(key, thumb, timeout)
    return thumb


def thumbnail_forget(*, image_id: uuid.UUID, height: int, fmt: str) -> None:
    cache_forget([_thumbnail_key(image_id, height, fmt)])


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
