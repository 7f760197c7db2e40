"""Files follow their rows: whatever deletes an Image or Thumbnail row (the API, the
admin, a user's deletion cascading, pruning) removes its file once the deletion commits.
A tier that gains a height has it made for its users' existing images."""

from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from pixtier.accounts.models import ThumbnailSize
from pixtier.images.models import Image, Thumbnail
from pixtier.images.tasks import enqueue_tier_backfill


def _delete_after_commit(key: str) -> None:
    if key:
        transaction.on_commit(lambda: default_storage.delete(key))


@receiver(post_delete, sender=Image)
def _image_deleted(sender: type[Image], instance: Image, **kwargs: Any) -> None:
    _delete_after_commit(instance.original_key)


@receiver(post_delete, sender=Thumbnail)
def _thumbnail_deleted(sender: type[Thumbnail], instance: Thumbnail, **kwargs: Any) -> None:
    _delete_after_commit(instance.key)


@receiver(post_save, sender=ThumbnailSize)
def _height_added(sender: type[ThumbnailSize], instance: ThumbnailSize, **kwargs: Any) -> None:
    if kwargs.get("created") and not kwargs.get("raw"):
        tier_id = instance.tier_id
        transaction.on_commit(lambda: enqueue_tier_backfill(tier_id=tier_id))
