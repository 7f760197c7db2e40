"""Reads for expiring links."""

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from pixtier.common.cache import cache_forget, cache_get, cache_set
from pixtier.images.models import Image
from pixtier.links.models import ExpiringLink


def expiring_link_list(*, image: Image) -> QuerySet[ExpiringLink]:
    """The image's links that still work: not revoked, not expired, not used up."""
    return valid_links().filter(image=image).order_by("-created_at", "-id")


def valid_links() -> QuerySet[ExpiringLink]:
    """Links that still work: not revoked, not expired, downloads left."""
    return ExpiringLink.objects.filter(
        Q(max_downloads__isnull=True) | Q(downloads__lt=F("max_downloads")),
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )


def expiring_link_get(*, image: Image, link_id: uuid.UUID) -> ExpiringLink:
    """One still-working link of the image; revoked and expired ones are gone (404)."""
    return get_object_or_404(expiring_link_list(image=image), pk=link_id)


# What a download reads of a link, its image and its owner (not the owner's password
# hash, name or email: none of that belongs in a cache).
_DOWNLOAD_FIELDS = (
    *(f.name for f in ExpiringLink._meta.concrete_fields),
    *(f"image__{f.name}" for f in Image._meta.concrete_fields),
    "image__owner__is_active",
    "image__owner__tier",
)


def _cache_key(link_id: uuid.UUID) -> str:
    return f"pixtier:link-download:{link_id}"


def expiring_link_for_download(*, link_id: uuid.UUID) -> ExpiringLink | None:
    """The link with its image and owner: one query, or none while cached.

    Cached only with a cache every process shares (``PIXTIER_DOWNLOAD_CACHE_SECONDS``), never
    past the link's expiry, and forgotten whenever the link, its image or its owner
    changes (``pixtier.links.signals``), so a revocation still kills a link at once.
    """
    timeout = settings.PIXTIER_DOWNLOAD_CACHE_SECONDS
    key = _cache_key(link_id)
    if timeout > 0:
        cached: ExpiringLink | None = cache_get(key)
        if cached is not None:
            return cached
    link = (
        ExpiringLink.objects.select_related("image__owner")
        .only(*_DOWNLOAD_FIELDS)
        .filter(pk=link_id)
        .order_by("pk")  # not the model's newest-first: that sorts for nothing
        .first()
    )
    if link is not None and timeout > 0:
        left = int((link.expires_at - timezone.now()).total_seconds())
        if left > 0:
            cache_set(key, link, min(timeout, left))
    return link


def expiring_links_forget(*, link_ids: Iterable[uuid.UUID]) -> None:
    """Drop cached downloads of these links (see :func:`expiring_link_for_download`)."""
    cache_forget(_cache_key(link_id) for link_id in link_ids)
