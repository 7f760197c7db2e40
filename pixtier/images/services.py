"""Writes for images: upload (one decode validates and makes the tier's thumbnails) and
delete. Missing thumbnails (a height added since, other formats) are made in
``thumbnails``."""

import hashlib
import logging
import time
import uuid
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from pixtier.accounts.models import User
from pixtier.accounts.selectors import tier_capabilities_load
from pixtier.common import metrics
from pixtier.common.exceptions import ImageTooLarge
from pixtier.images import keys, placeholders, processing
from pixtier.images.models import Image, Thumbnail
from pixtier.images.quotas import upload_quota_check
from pixtier.images.tasks import enqueue_thumbnails
from pixtier.images.thumbnails import decode_limits

logger = logging.getLogger(__name__)


def _human_bytes(size: int) -> str:
    """Exact bytes, and MiB to three decimals from 1 MiB: 20 MiB + 1 byte must not read
    as the limit itself."""
    if size < 1024 * 1024:
        return f"{size} bytes"
    return f"{size} bytes ({size / (1024 * 1024):.3f} MiB)"


def _read_upload(file: UploadedFile[bytes]) -> bytes:
    limit = settings.PIXTIER_MAX_UPLOAD_BYTES
    if (file.size or 0) > limit:
        raise ImageTooLarge(
            f"The file is {_human_bytes(file.size or 0)}; the limit is {_human_bytes(limit)}."
        )
    data: bytes = file.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(f"The file is larger than {_human_bytes(limit)}.")
    return data


def _ready_row(
    image_id: uuid.UUID,
    height: int,
    key: str,
    thumb: processing.Rendered,
    *,
    fmt: processing.Format,
    made_at: datetime,
) -> Thumbnail:
    return Thumbnail(
        image_id=image_id,
        height=height,
        format=fmt,
        state=Thumbnail.State.READY,
        claimed_at=made_at,
        key=key,
        pixel_width=thumb.width,
        pixel_height=thumb.height,
        size=len(thumb.data),
        sha256=hashlib.sha256(thumb.data).hexdigest(),
        created_at=made_at,
    )


@metrics.upload_counted
def image_upload(*, owner: User, file: UploadedFile[bytes], title: str = "") -> Image:
    """Validate an upload and make its owner's tier thumbnails from the same decode, then
    store the original, the thumbnails and their rows: the answer lists READY thumbnails.

    Nothing is stored before the decode has accepted the file; then either everything is
    stored (files and rows) or nothing is. Thumbnails in the eager formats other than the
    original's (THUMBNAIL_EAGER_FORMATS) follow in the background.
    """
    upload_quota_check(owner=owner, size=file.size or 0)
    data = _read_upload(file)
    heights = list(tier_capabilities_load(tier_id=owner.tier_id).heights)
    started = time.perf_counter()
    processed = processing.process(
        data,
        limits=decode_limits(),
        heights=heights,
        jpeg_quality=settings.PIXTIER_JPEG_QUALITY,
    )
    info = processed.info
    seconds = time.perf_counter() - started
    # The placeholder from the smallest thumbnail's pixels (a decode of its own when the
    # tier has no heights).
    painted = placeholders.placeholder(
        processed.smallest
        if processed.smallest is not None
        else processing.placeholder_source(data, info)
    )
    image_id = uuid.uuid4()
    now = timezone.now()
    stored: list[str] = []
    try:
        original = keys.original_key(image_id, info.extension)
        stored.append(default_storage.save(original, ContentFile(data)))
        thumbnails = []
        for height, thumb in processed.thumbnails.items():
            key = default_storage.save(
                keys.thumbnail_key(image_id, height, info.extension, claimed_at=now),
                ContentFile(thumb.data),
            )
            stored.append(key)
            thumbnails.append(
                _ready_row(image_id, height, key, thumb, fmt=info.format, made_at=now)
            )
        with transaction.atomic():
            # Again under the owner's lock: a concurrent upload may have counted meanwhile.
            upload_quota_check(owner=owner, size=len(data), lock=True)
            image = Image.objects.create(
                id=image_id,
                owner=owner,
                title=title,
                original_key=stored[0],
                width=info.width,
                height=info.height,
                content_type=info.content_type,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                placeholder=painted.blurhash,
                dominant_color=painted.dominant_color,
            )
            Thumbnail.objects.bulk_create(thumbnails)
            if set(settings.PIXTIER_EAGER_FORMATS) - {info.format}:
                transaction.on_commit(lambda: enqueue_thumbnails(image_id=image_id))
    except BaseException:
        for key in stored:
            default_storage.delete(key)
        raise
    metrics.THUMBNAIL_GENERATION_SECONDS.labels(format=info.format).observe(seconds)
    metrics.THUMBNAILS_GENERATED.labels(format=info.format).inc(len(thumbnails))
    logger.info(
        "made %s thumbnails %s of %s in %.0f ms (in the upload's validating decode)",
        info.format,
        sorted(processed.thumbnails),
        image_id,
        seconds * 1000,
    )
    return image


def image_delete(*, image: Image) -> None:
    """Delete the image with its thumbnails and links; files go once the rows are gone
    (see ``pixtier.images.signals``).

    The image row is locked first, so a thumbnail claim racing the delete either lands
    before (and is deleted with it) or fails on the missing image, never in between.
    """
    with transaction.atomic():
        list(Image.objects.select_for_update().filter(pk=image.pk).values_list("pk", flat=True))
        image.delete()
