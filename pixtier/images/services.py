"""Writes for images: upload and delete. Thumbnails are made in ``thumbnails``."""

import hashlib
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from pixtier.accounts.models import User
from pixtier.common import metrics
from pixtier.common.exceptions import ImageTooLarge
from pixtier.images import keys, placeholders, processing
from pixtier.images.models import Image
from pixtier.images.quotas import upload_quota_check
from pixtier.images.tasks import enqueue_thumbnails


def _human_bytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"


@metrics.upload_counted
def image_upload(*, owner: User, file: UploadedFile[bytes], title: str = "") -> Image:
    """Validate, store and record an upload; thumbnails follow in the background.

    Either everything is stored (file and row) or nothing is.
    """
    upload_quota_check(owner=owner, size=file.size or 0)
    limit = settings.PIXTIER_MAX_UPLOAD_BYTES
    if (file.size or 0) > limit:
        raise ImageTooLarge(
            f"The file is {_human_bytes(file.size or 0)}; the limit is {_human_bytes(limit)}."
        )
    data = file.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(f"The file is larger than {_human_bytes(limit)}.")
    info = processing.inspect(
        data,
        max_pixels=settings.PIXTIER_MAX_PIXELS,
        max_dimension=settings.PIXTIER_MAX_DIMENSION,
    )
    # TODO(decode): from the smallest thumbnail of the upload's one decode pass, once it
    # has one; until then a decode of its own at the smallest scale.
    painted = placeholders.placeholder(processing.placeholder_source(data, info))
    image_id = uuid.uuid4()
    stored_key = default_storage.save(
        keys.original_key(image_id, info.extension), ContentFile(data)
    )
    try:
        with transaction.atomic():
            # Again under the owner's lock: a concurrent upload may have counted meanwhile.
            upload_quota_check(owner=owner, size=len(data), lock=True)
            image = Image.objects.create(
                id=image_id,
                owner=owner,
                title=title,
                original_key=stored_key,
                width=info.width,
                height=info.height,
                content_type=info.content_type,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                placeholder=painted.blurhash,
                dominant_color=painted.dominant_color,
            )
            transaction.on_commit(lambda: enqueue_thumbnails(image_id=image_id))
    except BaseException:
        default_storage.delete(stored_key)
        raise
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
