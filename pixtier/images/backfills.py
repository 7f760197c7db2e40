"""Jobs that give images stored before a feature existed what uploads now compute."""

import logging
import uuid

import pyvips
from django.core.files.storage import default_storage

from pixtier.accounts.selectors import tier_capabilities_load
from pixtier.images import placeholders, processing
from pixtier.images.models import Image
from pixtier.images.selectors import image_info
from pixtier.images.thumbnails import decode_limits

logger = logging.getLogger(__name__)


def _placeholder_pixels(image: Image, data: bytes) -> pyvips.Image:
    """What an upload computes its placeholder from: the smallest thumbnail of the owner's
    tier, from the same pass (or, for a tier without heights, a small decode)."""
    heights = tier_capabilities_load(tier_id=image.owner.tier_id).heights
    if heights:
        made = processing.process(data, limits=decode_limits(), heights=[min(heights)])
        if made.smallest is not None:
            return made.smallest
    return processing.placeholder_source(data, image_info(image))


def image_placeholders_backfill(
    *, after: uuid.UUID | None = None, limit: int = 100
) -> uuid.UUID | None:
    """Give images stored before placeholders existed theirs, ``limit`` at a time in id
    order from ``after``; returns where to go on from (None: done).

    Safe beside a live site and after any migration: it only fills empty fields (an
    upload meanwhile keeps its own), and an original that cannot be read is logged and
    passed over, not retried forever.
    """
    pending = Image.objects.filter(placeholder="").order_by("pk")
    if after is not None:
        pending = pending.filter(pk__gt=after)
    last = None
    for image in pending.select_related("owner").only(
        "pk", "original_key", "content_type", "width", "height", "owner__tier_id"
    )[:limit]:
        last = image.pk
        try:
            with default_storage.open(image.original_key, "rb") as original:
                data = original.read()
            painted = placeholders.placeholder(_placeholder_pixels(image, data))
        except Exception:
            logger.exception("no placeholder for image %s: its original cannot be read", image.pk)
            continue
        Image.objects.filter(pk=image.pk, placeholder="").update(
            placeholder=painted.blurhash, dominant_color=painted.dominant_color
        )
    return last
