"""Keep cached tier capabilities in step with admin edits."""

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from pixtier.accounts.models import ThumbnailSize, Tier
from pixtier.accounts.selectors import tier_capabilities_forget


def _forget(tier_id: int) -> None:
    # Now, and again after commit: a request between the two could re-cache the old tier.
    # The first raises if the cache is unreachable (the edit then rolls back); the second,
    # after the commit, can only log.
    tier_capabilities_forget(tier_id=tier_id)
    transaction.on_commit(lambda: tier_capabilities_forget(tier_id=tier_id), robust=True)


@receiver([post_save, post_delete], sender=Tier)
def _tier_changed(sender: type[Tier], instance: Tier, **kwargs: Any) -> None:
    _forget(instance.pk)


@receiver([post_save, post_delete], sender=ThumbnailSize)
def _size_changed(sender: type[ThumbnailSize], instance: ThumbnailSize, **kwargs: Any) -> None:
    _forget(instance.tier_id)
