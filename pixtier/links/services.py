"""Writes and checks for expiring links."""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from pixtier.accounts.selectors import Capabilities
from pixtier.common.exceptions import NotInTier
from pixtier.images.models import Image
from pixtier.links import counting
from pixtier.links.models import USED_UP_LINKS, ExpiringLink

logger = logging.getLogger(__name__)

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


def link_download_count(*, link_id: uuid.UUID, limited: bool, now: datetime) -> bool:
    """Count one download of the link as it starts; False when the link has no download
    left (then nothing may be sent: it answers 410).

    A limited link is counted by one conditional UPDATE, so k concurrent downloads with
    n left make exactly min(k, n) of them count, on every database. An unlimited one is
    counted in Redis when it is there (``pixtier.links.counting``), else in the row.
    """
    if not limited:
        if not counting.pending_add(link_id=link_id, now=now) and counting.local_add(
            link_id=link_id, now=now
        ):
            try:
                link_downloads_flush(local_only=True)
            except DatabaseError:  # kept for the next try; the download goes on
                logger.warning("link downloads not written: the database failed", exc_info=True)
        return True
    counted = ExpiringLink.objects.filter(
        pk=link_id,
        downloads__lt=F("max_downloads"),
        revoked_at__isnull=True,
        expires_at__gt=now,
    ).update(downloads=F("downloads") + 1, last_downloaded_at=now)
    return counted == 1


def link_downloads_flush(*, local_only: bool = False) -> int:
    """Write the downloads of unlimited links counted in Redis and in this process (only
    this process's with ``local_only``) to their rows; returns how many links were
    updated (a link deleted meanwhile is skipped)."""
    left = counting.local_take() if local_only else counting.pending_take()
    updated = 0
    try:
        for link_id, pending in list(left.items()):
            last = pending.last_downloaded_at
            changes: dict[str, Any] = {"downloads": F("downloads") + pending.downloads}
            if last is not None:
                changes["last_downloaded_at"] = Greatest(
                    Coalesce(F("last_downloaded_at"), Value(last)), Value(last)
                )
            updated += ExpiringLink.objects.filter(pk=link_id).update(**changes)
            del left[link_id]
    finally:
        if left:  # the database failed half way: the rest waits for the next batch
            counting.pending_return(left)
    return updated
