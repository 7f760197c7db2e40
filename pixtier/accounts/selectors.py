"""Reads about users and tiers; the one place that answers "what may this user get?"."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, QuerySet, Sum
from rest_framework.request import Request

from pixtier.accounts.models import Tier, User, upload_limit
from pixtier.common import freshness


@dataclass(frozen=True)
class Capabilities:
    tier_id: int
    tier_name: str
    heights: tuple[int, ...]
    original_link: bool
    expiring_links: bool
    # Quotas, None = unlimited (defaults: a capability cached before they existed).
    max_images: int | None = None
    max_storage_bytes: int | None = None
    max_upload_bytes: int | None = None

    @property
    def upload_limit(self) -> int:
        """The largest upload accepted: the tier's limit within the global one."""
        return upload_limit(self.max_upload_bytes)


@dataclass(frozen=True)
class Usage:
    images: int
    storage_bytes: int


def tier_capabilities_load(*, tier_id: int) -> Capabilities:
    """One query: the tier's flags joined with its heights (a row per height)."""
    rows = list(
        Tier.objects.filter(pk=tier_id)
        .order_by("sizes__height")
        .values_list(
            "sizes__height",
            "name",
            "original_link",
            "expiring_links",
            "max_images",
            "max_storage_bytes",
            "max_upload_bytes",
        )
    )
    if not rows:
        raise Tier.DoesNotExist(f"Tier {tier_id} does not exist")
    _, name, original_link, expiring_links, *quotas = rows[0]
    heights = tuple(row[0] for row in rows if row[0] is not None)
    return Capabilities(tier_id, name, heights, original_link, expiring_links, *quotas)


def tier_capabilities(*, user: User) -> Capabilities:
    """The user's current tier, asked at serve time (cached only in Redis, where any tier
    edit outdates it: ``pixtier.common.freshness``; read from the database while the cache
    is unreachable)."""
    timeout = settings.PIXTIER_TIER_CACHE_SECONDS
    if timeout <= 0:
        return tier_capabilities_load(tier_id=user.tier_id)
    key = f"tier:{user.tier_id}"
    found = freshness.lookup(key, owned=False)
    if found.value is not None:
        capabilities: Capabilities = found.value
        return capabilities
    capabilities = tier_capabilities_load(tier_id=user.tier_id)
    freshness.store(key, capabilities, found.stamp, owner_id=None, timeout=timeout)
    return capabilities


def tier_list() -> QuerySet[Tier]:
    return Tier.objects.prefetch_related("sizes").order_by("name")


def user_usage(*, user_id: int) -> Usage:
    """What counts against the quotas: the user's images and their originals' bytes."""
    totals = User.objects.filter(pk=user_id).aggregate(
        image_count=Count("images"), byte_count=Sum("images__size")
    )
    return Usage(images=totals["image_count"], storage_bytes=totals["byte_count"] or 0)


def request_user(request: Request) -> User:
    """The authenticated caller (views guarded by IsAuthenticated)."""
    return request.user  # type: ignore[return-value]
