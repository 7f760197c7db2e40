"""The link holder's access decision: may whoever holds this expiring link have its file,
now?

Expiry is read from the signed token before anything else (no query). Then one query
reads the link with everything the answer depends on (its image and READY thumbnail, the
owner's account and tier), or none while Redis holds a fresh answer
(``pixtier.common.freshness``). Denials are never cached.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import F, FilteredRelation, OuterRef, Q, QuerySet

from pixtier import delivery
from pixtier.common import freshness
from pixtier.common.exceptions import Gone, NotFound, NotInTier
from pixtier.common.prepared import Prepared
from pixtier.delivery import Decision, StoredFile
from pixtier.images.access import (
    IMAGE_FIELDS,
    THUMBNAIL_FIELDS,
    TIER_FIELDS,
    ImageFacts,
    TierFacts,
    formats_key,
    image_format,
    in_tier,
    original_format,
    stored_file,
    thumbnail_format,
    thumbnail_in,
    thumbnail_made,
    tier_allows,
)
from pixtier.images.models import Thumbnail
from pixtier.images.negotiation import FormatRequest
from pixtier.links import counting
from pixtier.links.models import REVOKED, USED_UP, VALID, ExpiringLink, link_status
from pixtier.links.signing import link_token_read

LINK_FIELDS = (
    "id",
    "height",
    "expires_at",
    "revoked_at",
    "max_downloads",
    "downloads",
    "image__owner_id",
)
OWNER_FIELDS = ("is_active", "tier_id")


@dataclass(frozen=True)
class LinkFile:
    """What a fresh decision about a link holds: the link's end and its file."""

    link_id: uuid.UUID
    owner_id: int
    expires_at: datetime
    height: int | None
    file: StoredFile
    # Links with a download limit are decided afresh each time (never cached).
    limited: bool


@dataclass(frozen=True, kw_only=True)
class LinkDecision(Decision):
    """A link's decision: also which link, so that the download can be counted."""

    link_id: uuid.UUID
    limited: bool
    # Already counted, in the decision's own round trip to Redis (see link_file()).
    counted: bool = False


def _link_rows(link_id: uuid.UUID) -> QuerySet[Any]:
    ready = Q(
        image__thumbnails__height=F("height"),
        image__thumbnails__format=original_format("image__content_type"),
        image__thumbnails__state=Thumbnail.State.READY,
    )
    rows: QuerySet[Any] = (
        ExpiringLink.objects.filter(pk=link_id)
        .order_by()
        .annotate(
            has_height=in_tier("image__owner__tier_id", OuterRef("height")),
            ready=FilteredRelation("image__thumbnails", condition=ready),
        )
        .values_list(
            *LINK_FIELDS,
            *(f"image__owner__{field}" for field in OWNER_FIELDS),
            *(f"image__owner__tier__{field}" for field in TIER_FIELDS),
            *(f"image__{field}" for field in IMAGE_FIELDS),
            "has_height",
            *(f"ready__{field}" for field in THUMBNAIL_FIELDS),
        )[:1]
    )
    return rows


# Written once by the ORM; each download binds the link's id (pixtier.common.prepared).
_LINK_ROW = Prepared(_link_rows, link_id=uuid.UUID)


def _link_row(link_id: uuid.UUID) -> tuple[Any, ...] | None:
    found = _LINK_ROW(link_id=link_id)
    return found[0] if found else None


def link_file(
    *,
    token: str,
    now: int,
    formats: FormatRequest | None = None,
    count_at: datetime | None = None,
) -> LinkDecision:
    """The file behind an expiring link, judged at ``now`` (Unix seconds, taken once at
    the request's start); a thumbnail in the format ``formats`` negotiates (SPEC 10), an
    original as uploaded. Raises :class:`NotFound` (not a link), :class:`Gone` (expired,
    revoked, deleted, or the owner's account closed) or :class:`NotInTier` (the owner's
    tier no longer allows it).

    ``count_at``: the request will get the whole file if allowed, so an unlimited link's
    download may be counted (at that time) in the same round trip as a cached decision;
    ``counted`` says whether it was."""
    claim = link_token_read(token)
    if claim is None:
        raise NotFound("This link is not valid.")
    if now >= claim.expires_at:
        expired_at = datetime.fromtimestamp(claim.expires_at, tz=UTC).isoformat()
        raise Gone(f"This link expired at {expired_at}.")
    key = f"link:{claim.link_id}{formats_key(formats)}"
    timeout = min(settings.PIXTIER_DOWNLOAD_CACHE_SECONDS, claim.expires_at - now)
    tally = None
    if count_at is not None:
        tally = counting.pending_tally(link_id=claim.link_id, now=count_at)
    found = freshness.lookup(key, tally=tally) if timeout > 0 else freshness.MISS
    served: LinkFile | None = found.value
    if served is None:
        served = _decide(claim.link_id, now, formats)
        if not served.limited:
            freshness.store(key, served, found.stamp, owner_id=served.owner_id, timeout=timeout)
    return LinkDecision(
        served.file,
        cache_control=delivery.link_cache_control(claim.expires_at - now),
        expires=served.expires_at,
        allow_range=served.height is None,
        replayable=not served.limited,
        link_id=served.link_id,
        limited=served.limited,
        negotiated=served.height is not None,
        counted=found.tallied,
    )


def _decide(link_id: uuid.UUID, now: int, formats: FormatRequest | None) -> LinkFile:
    row = _link_row(link_id)
    if row is None:
        raise Gone("This link no longer exists.")
    columns = iter(row)
    link_id, height, expires_at, revoked_at, max_downloads, downloads, owner_id = (
        next(columns) for _ in LINK_FIELDS
    )
    is_active, tier_id = (next(columns) for _ in OWNER_FIELDS)
    name, original_link, expiring_links = (next(columns) for _ in TIER_FIELDS)
    image = ImageFacts(*(next(columns) for _ in IMAGE_FIELDS))
    has_height = next(columns)
    thumb = tuple(columns)
    status = link_status(
        revoked_at=revoked_at,
        expires_at=expires_at,
        used_up=max_downloads is not None and downloads >= max_downloads,
        now=datetime.fromtimestamp(now, tz=UTC),
    )
    if status == REVOKED:
        raise Gone("This link was revoked by its owner.")
    if status == USED_UP:
        raise Gone(f"This link's {max_downloads} download(s) have been used.")
    if status != VALID:
        raise Gone(f"This link expired at {expires_at.isoformat()}.")
    if not is_active:
        raise Gone("This link's owner account is closed.")
    tier = TierFacts(tier_id, name, original_link, expiring_links, has_height)
    try:
        tier_allows(tier, height=height, shared=True)
    except NotInTier as exc:
        # The holder is not the owner: say no more than that the link is off.
        raise NotInTier("The owner's plan no longer allows this link.") from exc
    fmt = thumbnail_format(image, formats)
    # The one query read the thumbnail in the original's format; another is made or read
    # on its own.
    if height is not None and fmt != image_format(image):
        thumb = thumbnail_in(image.id, height=height, tier_id=tier_id, fmt=fmt)
    elif height is not None and thumb[0] is None:
        thumb = thumbnail_made(image.id, height=height, tier_id=tier_id)
    return LinkFile(
        link_id=link_id,
        owner_id=owner_id,
        expires_at=expires_at,
        height=height,
        file=stored_file(image, height=height, thumb=thumb, fmt=fmt),
        limited=max_downloads is not None,
    )
