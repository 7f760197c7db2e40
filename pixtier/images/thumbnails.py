"""Making thumbnails exactly once: claims on the (image, height, format) row, one decode
for all of an image's missing heights in a format; a first request's fast AVIF replaced by
the thorough encode. Requests (``ondemand``), the background jobs (after an upload, after
a tier gains a height, after a first AVIF request) and the prune call in."""

import functools
import hashlib
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from pixtier.accounts.models import ThumbnailSize
from pixtier.accounts.selectors import tier_capabilities_load
from pixtier.common import metrics
from pixtier.common.errors import STORAGE_ERRORS
from pixtier.images import keys, processing
from pixtier.images.models import Image, Thumbnail
from pixtier.images.selectors import image_info

logger = logging.getLogger(__name__)

State = Thumbnail.State


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


def _encoding(fmt: processing.OutputFormat, encoding: processing.Encoding) -> str:
    """What a row records of the setting that made its file (only formats with two)."""
    return encoding if fmt in processing.TWO_SPEED_FORMATS else ""


def _file_fields(thumb: processing.Rendered, key: str, encoding: str) -> dict[str, Any]:
    """What a thumbnail row says of the file it now names."""
    return {
        "key": key,
        "encoding": encoding,
        "pixel_width": thumb.width,
        "pixel_height": thumb.height,
        "size": len(thumb.data),
        "sha256": hashlib.sha256(thumb.data).hexdigest(),
        "created_at": timezone.now(),
    }


def thumbnails_generate(
    *,
    image: Image,
    heights: list[int],
    fmt: processing.OutputFormat | None = None,
    encoding: processing.Encoding = "thorough",
) -> list[int]:
    """Make the ``fmt`` thumbnails (default: the original's format) among ``heights``
    that nobody has made or is making, at the ``encoding``'s setting.

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
            encoding=encoding,
        )
        seconds = time.perf_counter() - started
        metrics.THUMBNAIL_GENERATION_SECONDS.labels(format=fmt).observe(seconds)
        logger.info(
            "made %s (%s) thumbnails %s of %s in %.0f ms",
            fmt,
            encoding,
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
            ).update(state=State.READY, **_file_fields(thumb, key, _encoding(fmt, encoding)))
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


def thumbnails_refine(
    *, image_id: uuid.UUID, heights: list[int], fmt: processing.OutputFormat = "avif"
) -> list[int]:
    """Background job after a request made ``fmt`` thumbnails at the fast setting: encode
    them again, thorough, from the original; returns the heights replaced.

    Each new file gets a key of its own, and its row moves to it only if the row still
    holds the fast file (so twice is once, and an image deleted or a height pruned
    meanwhile keeps nothing); cached decisions naming the old file are outdated with the
    move (``ThumbnailQuerySet``), and the old file goes once the move commits. A download
    that has its decision keeps reading the old file; the next one gets the new ETag.
    """
    if fmt not in processing.TWO_SPEED_FORMATS:
        return []
    fast = list(
        Thumbnail.objects.filter(
            image_id=image_id, height__in=heights, format=fmt, state=State.READY, encoding="fast"
        )
    )
    image = Image.objects.filter(pk=image_id).first()
    if not fast or image is None:
        return []
    try:
        with default_storage.open(image.original_key, "rb") as original:
            data = original.read()
    except STORAGE_ERRORS:
        if Image.objects.filter(pk=image_id).exists():
            raise
        return []  # deleted since: its file went after its row
    started = time.perf_counter()
    rendered = processing.make_thumbnails(
        data,
        heights=[row.height for row in fast],
        limits=decode_limits(),
        jpeg_quality=settings.PIXTIER_JPEG_QUALITY,
        fmt=fmt,
        encoding="thorough",
    )
    seconds = time.perf_counter() - started
    refined = []
    now = timezone.now()
    for row in fast:
        thumb = rendered[row.height]
        key = default_storage.save(
            keys.thumbnail_key(image.pk, row.height, processing.EXTENSIONS[fmt], claimed_at=now),
            ContentFile(thumb.data),
        )
        try:
            with transaction.atomic():
                moved = Thumbnail.objects.filter(
                    pk=row.pk, state=State.READY, key=row.key, encoding="fast"
                ).update(**_file_fields(thumb, key, "thorough"))
                if moved:
                    transaction.on_commit(functools.partial(default_storage.delete, row.key))
        except BaseException:
            default_storage.delete(key)  # the move rolled back (e.g. Redis unreachable)
            raise
        if moved:
            refined.append(row.height)
        else:
            default_storage.delete(key)
    logger.info(
        "refined %s thumbnails %s of %s (%d -> %d bytes) in %.0f ms",
        fmt,
        refined,
        image_id,
        sum(row.size or 0 for row in fast if row.height in refined),
        sum(len(rendered[h].data) for h in refined),
        seconds * 1000,
    )
    return refined


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
