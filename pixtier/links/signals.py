"""Keep cached link downloads in step with the rows they were read from: a link revoked
or deleted, its image edited or deleted, its owner deactivated or moved to another tier."""

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from pixtier.images.models import Image
from pixtier.links.models import ExpiringLink
from pixtier.links.selectors import expiring_links_forget

# User fields a link download reads (pixtier.links.selectors._DOWNLOAD_FIELDS).
_OWNER_FIELDS = {"is_active", "tier", "tier_id"}


def _forget(link_ids: Iterable[Any]) -> None:
    ids = list(link_ids)
    if not ids:
        return
    # Now, and again after commit: a download in between could cache the old row again.
    # The first raises if the cache is unreachable (the change then rolls back); the
    # second, after the commit, can only log.
    expiring_links_forget(link_ids=ids)
    transaction.on_commit(lambda: expiring_links_forget(link_ids=ids), robust=True)


def _caching() -> bool:
    return settings.PIXTIER_DOWNLOAD_CACHE_SECONDS > 0


@receiver([post_save, post_delete], sender=ExpiringLink)
def _link_changed(sender: type[ExpiringLink], instance: ExpiringLink, **kwargs: Any) -> None:
    if _caching() and not kwargs.get("created"):
        _forget([instance.pk])


@receiver(post_save, sender=Image)
def _image_changed(sender: type[Image], instance: Image, **kwargs: Any) -> None:
    # Deleting an image deletes its links, each through _link_changed; this is for edits
    # (an admin renaming it changes the download's file name).
    if _caching() and not kwargs.get("created"):
        _forget(ExpiringLink.objects.filter(image_id=instance.pk).values_list("pk", flat=True))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _owner_changed(sender: type[Any], instance: Any, **kwargs: Any) -> None:
    fields = kwargs.get("update_fields")
    if not _caching() or kwargs.get("created") or (fields and not _OWNER_FIELDS & set(fields)):
        return
    _forget(ExpiringLink.objects.filter(image__owner_id=instance.pk).values_list("pk", flat=True))
