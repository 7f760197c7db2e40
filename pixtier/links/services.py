"""Writes and checks for expiring links."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from pixtier.accounts.selectors import Capabilities
from pixtier.common.exceptions import NotInTier
from pixtier.images.models import Image
from pixtier.links.models import USED_UP_LINKS, ExpiringLink

# The owner's tier does not allow this link; ``field`` names the request field at fault
# when the tier has the feature but not the requested target (a height it lacks).
LinkNotAllowed = NotInTier


def link_target_check(*, capabilities: Capabilities, height: int | None) -> None:
    """Raise :class:`LinkNotAllowed` unless the tier allows a link to this target now."""
    if not capabilities.expiring_links:
        raise LinkNotAllowed(f"The {capabilities.tier_name} tier does not include expiring links.")
    if height is None and not capabilities.original_link:
        raise LinkNotAllowed(
            f"The {capabilities.tier_name} tier does not include the original image; "
            "ask for a thumbnail height instead."
        )
    if height is not None and height not in capabilities.heights:
        available = ", ".join(str(h) for h in capabilities.heights) or "none"
        raise LinkNotAllowed(
            f"Height {height} is not in the {capabilities.tier_name} tier "
            f"(available: {available}).",
            field="height",
        )


def expiring_link_create(
    *,
    image: Image,
    expires_in: int,
    height: int | None,
    capabilities: Capabilities,
    max_downloads: int | None = None,
) -> ExpiringLink:
    link_target_check(capabilities=capabilities, height=height)
    now = timezone.now().replace(microsecond=0)
    return ExpiringLink.objects.create(
        image=image,
        height=height,
        expires_in=expires_in,
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in),
        max_downloads=max_downloads,
    )


def expiring_link_revoke(*, link: ExpiringLink) -> None:
    if link.revoked_at is None:
        # The save outdates cached decisions in its transaction (pixtier.common.guards): a
        # revocation that cannot reach the cache is not made, rather than made but served.
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])


def expiring_links_purge() -> int:
    """Delete link records past their expiry or used up (their last allowed download
    made); both are enforced at request time, this only clears the rows away."""
    doomed = ExpiringLink.objects.filter(Q(expires_at__lte=timezone.now()) | USED_UP_LINKS)
    deleted, _ = doomed.delete()
    return deleted
