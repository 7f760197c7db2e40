"""Reads for expiring links."""

import uuid

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from pixtier.images.models import Image
from pixtier.links.models import ExpiringLink


def expiring_link_list(*, image: Image) -> QuerySet[ExpiringLink]:
    """The image's links that still work: not revoked, not expired."""
    return ExpiringLink.objects.filter(
        image=image, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("-created_at", "-id")


def expiring_link_get(*, image: Image, link_id: uuid.UUID) -> ExpiringLink:
    """One still-working link of the image; revoked and expired ones are gone (404)."""
    return get_object_or_404(expiring_link_list(image=image), pk=link_id)


def expiring_link_for_download(*, link_id: uuid.UUID) -> ExpiringLink | None:
    """The link with its image and owner, in one query."""
    return ExpiringLink.objects.select_related("image", "image__owner").filter(pk=link_id).first()
