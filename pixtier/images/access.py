"""The owner's access decision: may this user have this file of their image, now?

One query reads everything the answer depends on (the user's identity columns, their
tier's flags and whether it has the height, the image, its READY thumbnail), or none
while Redis holds a fresh answer (``pixtier.common.freshness``: any write that may take
access away outdates it in its own transaction). Denials are never cached.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Exists, FilteredRelation, OuterRef, Q, QuerySet
from django.db.models.functions import Substr

from pixtier import delivery
from pixtier.accounts.authentication import Caller, identity_fields, identity_user
from pixtier.accounts.models import ThumbnailSize, User
from pixtier.accounts.selectors import tier_capabilities_load
from pixtier.common import freshness
from pixtier.common.exceptions import NotFound, NotInTier
from pixtier.common.prepared import Prepared
from pixtier.delivery import Decision, StoredFile
from pixtier.images.models import Image, Thumbnail
from pixtier.images.negotiation import FormatRequest
from pixtier.images.processing import (
    CONTENT_TYPES,
    EXTENSIONS,
    OUTPUT_FORMATS,
    Format,
    OutputFormat,
)

EXTENSIONS_BY_TYPE = {CONTENT_TYPES[fmt]: EXTENSIONS[fmt] for fmt in EXTENSIONS}

# What a decision reads of an image (a prefix names the relation it is read through).
IMAGE_FIELDS = ("id", "title", "original_key", "content_type", "size", "sha256", "uploaded_at")
THUMBNAIL_FIELDS = ("key", "size", "sha256", "created_at")
TIER_FIELDS = ("name", "original_link", "expiring_links")


@dataclass(frozen=True)
class ImageFacts:
    id: uuid.UUID
    title: str
    original_key: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime


@dataclass(frozen=True)
class TierFacts:
    tier_id: int
    name: str
    original_link: bool
    expiring_links: bool
    has_height: bool | None  # None when no height was asked


def image_format(image: ImageFacts) -> Format:
    return "png" if image.content_type == "image/png" else "jpeg"


def thumbnail_format(image: ImageFacts, formats: FormatRequest | None) -> OutputFormat:
    """The format to serve a thumbnail of ``image`` in: what the request negotiated, or
    the original's."""
    original = image_format(image)
    return formats.pick(original) if formats is not None else original


def formats_key(formats: FormatRequest | None) -> str:
    """What of a request's formats a cached decision depends on."""
    if formats is None:
        return ""
    picks = formats.picks()
    return f":{picks['jpeg']}-{picks['png']}"


def stored_file(
    image: ImageFacts,
    *,
    height: int | None,
    thumb: tuple[Any, ...],
    fmt: OutputFormat | None = None,
) -> StoredFile:
    """The original (``height`` None) or the READY thumbnail ``thumb`` (its
    THUMBNAIL_FIELDS) of ``image``, in ``fmt`` (default: the original's)."""
    extension = EXTENSIONS_BY_TYPE[image.content_type]
    name = image.title or str(image.id)
    if height is None:
        return StoredFile(
            key=image.original_key,
            content_type=image.content_type,
            size=image.size,
            sha256=image.sha256,
            modified=image.uploaded_at,
            filename=f"{name}.{extension}",
        )
    key, size, sha256, created_at = thumb
    fmt = fmt or image_format(image)
    return StoredFile(
        key=key,
        content_type=CONTENT_TYPES[fmt],
        size=size,
        sha256=sha256,
        modified=created_at,
        filename=f"{name}-{height}px.{EXTENSIONS[fmt]}",
    )


def tier_allows(tier: TierFacts, *, height: int | None, shared: bool = False) -> None:
    """Raise :class:`NotInTier` unless the tier serves this target now (``shared``: to
    the holder of an expiring link)."""
    if shared and not tier.expiring_links:
        raise NotInTier(f"The {tier.name} tier does not include expiring links.")
    if height is None:
        if not tier.original_link:
            raise NotInTier(f"The {tier.name} tier does not include the original image.")
        return
    if not tier.has_height:
        heights = tier_capabilities_load(tier_id=tier.tier_id).heights
        available = ", ".join(map(str, heights)) or "none"
        raise NotInTier(f"Height {height} is not in the {tier.name} tier (available: {available}).")


def thumbnail_made(
    image_id: uuid.UUID, *, height: int, tier_id: int, fmt: OutputFormat | None = None
) -> tuple[Any, ...]:
    """THUMBNAIL_FIELDS of the image's ``fmt`` thumbnail (default: the original's
    format), made now if need be (single flight)."""
    from pixtier.images.ondemand import thumbnail_get

    image = Image.objects.get(pk=image_id)
    heights = tier_capabilities_load(tier_id=tier_id).heights
    thumb = thumbnail_get(image=image, height=height, tier_heights=heights, fmt=fmt)
    return tuple(getattr(thumb, field) for field in THUMBNAIL_FIELDS)


def thumbnail_in(
    image_id: uuid.UUID, *, height: int, tier_id: int, fmt: OutputFormat
) -> tuple[Any, ...]:
    """THUMBNAIL_FIELDS of the image's READY ``fmt`` thumbnail: one query once it is
    made (warm WebP and AVIF cost what the original's format does), else made now."""
    found = _READY_IN[fmt](image_id=image_id, height=height)
    if found:
        return found[0]
    return thumbnail_made(image_id, height=height, tier_id=tier_id, fmt=fmt)


def _ready_in(fmt: OutputFormat) -> Prepared:
    def rows(image_id: uuid.UUID, height: int) -> QuerySet[Any]:
        ready = Thumbnail.objects.filter(
            image_id=image_id, height=height, format=fmt, state=Thumbnail.State.READY
        )
        return ready.order_by().values_list(*THUMBNAIL_FIELDS)[:1]

    return Prepared(rows, image_id=uuid.UUID, height=int)


# One query per format, written once by the ORM and only bound per download.
_READY_IN = {fmt: _ready_in(fmt) for fmt in OUTPUT_FORMATS}


def original_format(content_type: str) -> Substr:
    """The original's format in SQL, from its content type: "image/jpeg" -> "jpeg"."""
    return Substr(content_type, len("image/") + 1)


def in_tier(tier_id: str, height: Any) -> Exists:
    return Exists(ThumbnailSize.objects.filter(tier_id=OuterRef(tier_id), height=height))


def _owner_rows(user_id: int, image_id: uuid.UUID, height: int) -> QuerySet[Any]:
    identity = identity_fields()
    fields = [
        *(f"owner__{field}" for field in identity),
        *(f"owner__tier__{field}" for field in TIER_FIELDS),
        *IMAGE_FIELDS,
        "has_height",
        *(f"ready__{field}" for field in THUMBNAIL_FIELDS),
    ]
    ready = Q(
        thumbnails__height=height,
        thumbnails__format=original_format("content_type"),
        thumbnails__state=Thumbnail.State.READY,
    )
    rows = (
        Image.objects.filter(pk=image_id, owner_id=user_id)
        .order_by()
        .annotate(
            has_height=in_tier("owner__tier_id", height),
            ready=FilteredRelation("thumbnails", condition=ready),
        )
    )
    found: QuerySet[Any] = rows.values_list(*fields)[:1]
    return found


# Written once by the ORM; each download binds its values (pixtier.common.prepared). The
# original asks for height 0, which no tier has and no thumbnail is made for: its
# has_height and ready columns come back false and empty, and are not read.
_OWNER_ROW = Prepared(_owner_rows, user_id=int, image_id=uuid.UUID, height=int)


def _owner_row(user_id: int, image_id: uuid.UUID, height: int | None) -> tuple[Any, ...] | None:
    found = _OWNER_ROW(user_id=user_id, image_id=image_id, height=height or 0)
    row = found[0] if found else None
    if row is not None and height is None:
        return row[: -1 - len(THUMBNAIL_FIELDS)]
    return row


# The largest height a ThumbnailSize can hold (a PositiveIntegerField, on every database).
MAX_HEIGHT = 2**31 - 1


def owner_file(
    *,
    caller: Caller,
    image_id: uuid.UUID,
    height: int | None,
    formats: FormatRequest | None = None,
) -> Decision:
    """The caller's image's thumbnail of tier height ``height`` (None: the original), if
    their tier serves it now; a thumbnail in the format ``formats`` negotiates (SPEC 10).
    Raises the caller's authentication error, :class:`NotFound` (not theirs, or missing)
    or :class:`NotInTier`."""
    if height is None:
        formats = None  # originals are served as uploaded
    key = f"owner:{caller.user_id}:{image_id}:{height or 'original'}{formats_key(formats)}"
    timeout = settings.PIXTIER_DOWNLOAD_CACHE_SECONDS
    found = freshness.lookup(key, owner_id=caller.user_id) if timeout > 0 else freshness.MISS
    if found.value is not None:
        identity, stored = found.value
        caller.check(identity_user(identity))
        return _decision(stored, height)

    # A height no column can hold is in no tier: asked as 0, which no tier has either
    # (the URL takes any digits; the database would refuse the number with a 500).
    row = _owner_row(caller.user_id, image_id, height if (height or 0) <= MAX_HEIGHT else 0)
    if row is None:
        # Who asks decides between 401 and 404: a second query, on refusals only.
        caller.check(User.objects.filter(pk=caller.user_id).first())
        raise NotFound("No such image.")
    columns = iter(row)
    identity = tuple(next(columns) for _ in identity_fields())
    user = identity_user(identity)
    caller.check(user)
    name, original_link, expiring_links = (next(columns) for _ in TIER_FIELDS)
    image = ImageFacts(*(next(columns) for _ in IMAGE_FIELDS))
    has_height = next(columns) if height is not None else None
    tier = TierFacts(user.tier_id, name, original_link, expiring_links, has_height)
    tier_allows(tier, height=height)
    thumb = tuple(columns)
    fmt = thumbnail_format(image, formats)
    # The one query read the thumbnail in the original's format; another is made or read
    # on its own.
    if height is not None and fmt != image_format(image):
        thumb = thumbnail_in(image.id, height=height, tier_id=user.tier_id, fmt=fmt)
    elif height is not None and thumb[0] is None:
        thumb = thumbnail_made(image.id, height=height, tier_id=user.tier_id)
    stored = stored_file(image, height=height, thumb=thumb, fmt=fmt)
    freshness.store(key, (identity, stored), found.stamp, owner_id=caller.user_id, timeout=timeout)
    return _decision(stored, height)


def _decision(stored: StoredFile, height: int | None) -> Decision:
    # Owner links revalidate every time (a cheap 304), so the tier is checked each time.
    return Decision(
        stored,
        cache_control=delivery.owner_cache_control(),
        allow_range=height is None,
        negotiated=height is not None,
    )
