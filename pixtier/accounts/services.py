"""Writes for users and tiers that change what users may get."""

from django.db import transaction
from django.db.models import QuerySet

from pixtier.accounts.models import Tier, User


def user_tier_set(*, users: QuerySet[User], tier: Tier) -> list[User]:
    """Move ``users`` to ``tier``; returns those that moved. What they lose is refused
    from the next request on (the update outdates their cached decisions in the same
    transaction: ``pixtier.common.guards``)."""
    with transaction.atomic():
        moving = list(users.exclude(tier=tier))
        User.objects.filter(pk__in=[user.pk for user in moving]).update(tier=tier)
    return moving


def user_deactivate(*, user: User) -> None:
    """Close the account: sign-ins, tokens, owner links and expiring links stop at once."""
    user.is_active = False
    user.save(update_fields=["is_active"])
