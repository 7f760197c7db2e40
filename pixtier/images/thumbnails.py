"""Making thumbnails exactly once: claims on the (image, height, format) row, one decode
for all of an image's missing heights in a format, and on-demand waiting for a thumbnail
another process makes.
The background jobs (after an upload, after a tier gains a height) and the prune call in."""

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from pixtier.accounts.models import ThumbnailSize
from pixtier.accounts.selectors import tier_capabilities_load
from pixtier.common import metrics
from pixtier.common.exceptions import NotFound, NotReady
from pixtier.images import keys, processing
from pixtier.images.models import Image, Thumbnail
from pixtier.images.selectors import image_info, thumbnail_ready

logger = logging.getLogger(__name__)

State = Thumbnail.State


@dataclass(frozen=True)
class WaitClock:
    """The time a request waiting for another process's thumbnail reads and sleeps on.
    Tests put a clock of their own in ``CLOCK`` (as DRF's throttles take a ``timer``), so
    waiting out the limit takes no real time."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


CLOCK = WaitClock()


class ThumbnailNotReady(NotReady):
    """Another process is still making the thumbnail after the wait limit."""


def decode_limits() -> processing.Limits:
    """The budgets of every decode of client data (SPEC §5, §9), from settings."""
    return processing.Limits(
        max_pixels=settings.PIXTIER_MAX_PIXELS,
        max_dimension=settings.PIXTIER_MAX_DIMENSION,
        max_jpeg_scans=settings.PIXTIER_MAX_JPEG_SCANS,
        max_scan_blocks=settings.PIXTIER_MAX_JPEG_SCAN_BLOCKS,
        max_decode_bytes=settings.PIXTIER_MAX_DECODE_BYTES,
        max_metadata_bytes=settings.PIXTIER_MAX_METADATA_BYTES,
        max_png_chunks=settings.PIXTIER_MAX_PNG_CHUNKS,
        max_decode_seconds=settings.PIXTIER_MAX_DECODE_SECONDS,
    )


def original_format(image: Image) -> processing.Format:
    return image_info(image).format


def eager_formats(image: Image) -> list[processing.OutputFormat]:
    """Formats made with the upload (and for a tier's new height): the original's, and
    those ``THUMBNAIL_EAGER_FORMATS`` names."""
    formats: list[processing.OutputFormat] = [original_format(image)]
    for fmt in processing.OUTPUT_FORMATS:
        if fmt in settings.PIXTIER_EAGER_FORMATS and fmt not in formats:
            formats.append(fmt)
    return formats


def _claim(
    *, image: Image, heights: list[int], fmt: processing.OutputFormat, now: datetime
) -> list[int]:
    """Claim the missing (or abandoned) ``fmt`` thumbnails among ``heights``; return the
    won ones.

    The unique (image, height, format) row is the lock, so this is exactly-once across
    threads, processes and hosts sharing the database.
    """
    stale_before = now - timedelta(seconds=settings.PIXTIER_THUMBNAIL_CLAIM_SECONDS)
    existing = {
        t.height: t for t in Thumbnail.objects.filter(image=image, height__in=heights, format=fmt)
    }
    won = []
    for height in heights:
        row = existing.get(height)
        if row is None:
            try:
                with transaction.atomic():
                    Thumbnail.objects.create(image=image, height=height, format=fmt, claimed_at=now)
            except IntegrityError:
                continue
            won.append(height)
        elif row.state == State.PENDING and row.claimed_at < stale_before:
            taken = Thumbnail.objects.filter(
                pk=row.pk, state=State.PENDING, claimed_at=row.claimed_at
            ).update(claimed_at=now)
            if taken:
                won.append(height)
    return won


def thumbnails_generate(
    *, image: Image, heights: list[int], fmt: processing.OutputFormat | None = None
) -> list[int]:
    """Make the ``fmt`` thumbnails (default: the original's format) among ``heights``
    that nobody has made or is making.

    One decode serves all of them. A file becomes visible only when its row turns READY;
    a claim lost meanwhile (image deleted, claim taken over) discards the file.
    """
    fmt = fmt or original_format(image)
    now = timezone.now()
    claimed = _claim(image=image, heights=sorted(set(heights)), fmt=fmt, now=now)
    if not claimed:
        return []
    made = []
    try:
        with default_storage.open(image.original_key, "rb") as original:
            data = original.read()
        started = time.perf_counter()
        rendered = processing.make_thumbnails(
            data,
            heights=claimed,
            limits=decode_limits(),
            jpeg_quality=settings.PIXTIER_JPEG_QUALITY,
            fmt=fmt,
        )
        seconds = time.perf_counter() - started
        metrics.THUMBNAIL_GENERATION_SECONDS.labels(format=fmt).observe(seconds)
        logger.info(
            "made %s thumbnails %s of %s in %.0f ms",
            fmt,
            claimed,
            image.pk,
            seconds * 1000,
        )
        for height, thumb in rendered.items():
            key = default_storage.save(
                keys.thumbnail_key(image.pk, height, processing.EXTENSIONS[fmt], claimed_at=now),
                ContentFile(thumb.data),
            )
            updated = Thumbnail.objects.filter(
                image=image, height=height, format=fmt, state=State.PENDING, claimed_at=now
            ).update(
                state=State.READY,
                key=key,
                pixel_width=thumb.width,
                pixel_height=thumb.height,
                size=len(thumb.data),
                sha256=hashlib.sha256(thumb.data).hexdigest(),
                created_at=timezone.now(),
            )
            if updated:
                made.append(height)
            else:
                default_storage.delete(key)
    finally:
        # Release what we claimed but did not finish, so the next request retries at once.
        Thumbnail.objects.filter(
            image=image, height__in=claimed, format=fmt, state=State.PENDING, claimed_at=now
        ).delete()
    metrics.THUMBNAILS_GENERATED.labels(format=fmt).inc(len(made))
    return made


def thumbnail_get(
    *,
    image: Image,
    height: int,
    tier_heights: tuple[int, ...],
    fmt: processing.OutputFormat | None = None,
) -> Thumbnail:
    """The READY ``fmt`` thumbnail (default: the original's format) of ``image`` for
    tier height ``height``, made on demand.

    Concurrent callers make it once: one wins the claim (and makes the tier's other
    missing heights in that format from the same decode), the others wait for its row to
    turn READY.
    """
    fmt = fmt or original_format(image)
    clock = CLOCK
    deadline = clock.now() + settings.PIXTIER_THUMBNAIL_WAIT_SECONDS
    delay = 0.02
    wanted = [height, *(h for h in tier_heights if h != height)]
    while True:
        thumb = thumbnail_ready(image_id=image.pk, height=height, fmt=fmt)
        if thumb is not None:
            return thumb
        if height in thumbnails_generate(image=image, heights=wanted, fmt=fmt):
            continue
        if not Image.objects.filter(pk=image.pk).exists():
            raise NotFound("The image was deleted.")
        if clock.now() >= deadline:
            raise ThumbnailNotReady("The thumbnail is still being made; retry shortly.")
        clock.sleep(delay)
        delay = min(delay * 2, 0.25)


def thumbnails_generate_for_image(*, image_id: uuid.UUID) -> list[int]:
    """Background job after an upload: make every height of the owner's current tier, in
    the eager formats; returns the heights made in the original's format."""
    image = Image.objects.select_related("owner").filter(pk=image_id).first()
    if image is None:
        return []
    heights = list(tier_capabilities_load(tier_id=image.owner.tier_id).heights)
    first, *others = eager_formats(image)
    made = thumbnails_generate(image=image, heights=heights, fmt=first)
    for fmt in others:
        thumbnails_generate(image=image, heights=heights, fmt=fmt)
    return made


def thumbnails_backfill_tier(*, tier_id: int) -> int:
    """Background job after a tier gains a height: make it for its users' images (in the
    eager formats)."""
    heights = list(tier_capabilities_load(tier_id=tier_id).heights)
    made = 0
    for image in Image.objects.filter(owner__tier_id=tier_id).iterator(chunk_size=200):
        for fmt in eager_formats(image):
            made += len(thumbnails_generate(image=image, heights=heights, fmt=fmt))
    return made


def thumbnails_prune() -> int:
    """Delete thumbnails (in every format) of heights no longer in the owner's tier, and
    abandoned claims."""
    in_tier = ThumbnailSize.objects.filter(
        tier_id=OuterRef("image__owner__tier_id"), height=OuterRef("height")
    )
    abandoned_before = timezone.now() - timedelta(seconds=settings.PIXTIER_THUMBNAIL_CLAIM_SECONDS)
    doomed = Thumbnail.objects.filter(
        ~Exists(in_tier) | Q(state=State.PENDING, claimed_at__lt=abandoned_before)
    )
    pruned = 0
    for thumb in doomed.iterator(chunk_size=500):
        # Only if untouched since read: a claim renewed meanwhile is someone's live work.
        # The file follows the row (pixtier.images.signals).
        deleted, _ = Thumbnail.objects.filter(pk=thumb.pk, claimed_at=thumb.claimed_at).delete()
        pruned += deleted
    return pruned
