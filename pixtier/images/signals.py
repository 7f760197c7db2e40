"""Files follow their rows: whatever deletes an Image or Thumbnail row (the API, the
admin, a user's deletion cascading, pruning) removes its file once the deletion commits."""

from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from pixtier.images.models import Image, Thumbnail
from pixtier.images.selectors import thumbnail_forget


def _delete_after_commit(key: str) -> None:
    if key:
        transaction.on_commit(lambda: default_storage.delete(key))


@receiver(post_delete, sender=Image)
def _image_deleted(sender: type[Image], instance: Image, **kwargs: Any) -> None:
    _delete_after_commit(instance.original_key)


@receiver(post_delete, sender=Thumbnail)
def _thumbnail_deleted(sender: type[Thumbnail], instance: Thumbnail, **kwargs: Any) -> None:
    _delete_after_commit(instance.key)
    if instance.state == Thumbnail.State.READY:
        # Now, and again after commit: a request in between could cache the row again.
        image_id, height = instance.image_id, instance.height
        # The first raises if the cache is unreachable (the deletion then rolls back); the
        # second, after the commit, can only log.
        thumbnail_forget(image_id=image_id, height=height)
        transaction.on_commit(
            lambda: thumbnail_forget(image_id=image_id, height=height), robust=True
        )
