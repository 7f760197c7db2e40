"""Reads for images."""

import uuid

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from pixtier.accounts.models import User
from pixtier.delivery import StoredFile
from pixtier.images.models import Image, Thumbnail
from pixtier.images.processing import CONTENT_TYPES, EXTENSIONS

EXTENSIONS_BY_TYPE = {CONTENT_TYPES[fmt]: EXTENSIONS[fmt] for fmt in EXTENSIONS}


def image_list(*, owner: User) -> QuerySet[Image]:
    return Image.objects.filter(owner=owner).order_by("-uploaded_at", "-id")


def image_get(*, owner: User, image_id: uuid.UUID) -> Image:
    """The caller's image; someone else's is indistinguishable from a missing one (404)."""
    return get_object_or_404(Image, pk=image_id, owner=owner)


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
    return StoredFile(
        key=thumb.key,
        content_type=image.content_type,
        size=thumb.size,
        sha256=thumb.sha256,
        modified=thumb.created_at,
        filename=_filename(image, f"-{thumb.height}px", EXTENSIONS_BY_TYPE[image.content_type]),
    )
