"""Reads for expiring links."""

import uuid

from django.db.models import QuerySet

from pixtier.common.exceptions import NotFound
from pixtier.images.models import Image
from pixtier.links.models import ExpiringLink


def valid_links() -> QuerySet[ExpiringLink]:
    """Links that still work: not revoked, not expired, downloads left."""
    return ExpiringLink.objects.valid()


def expiring_link_list(*, image: Image) -> QuerySet[ExpiringLink]:
    """The image's links that still work: not revoked, not expired, not used up."""
    return ExpiringLink.objects.filter(image=image).valid().order_by("-created_at", "-id")


def expiring_link_get(*, image: Image, link_id: uuid.UUID) -> ExpiringLink:
    """One still-working link of the image; revoked and expired ones are gone (404)."""
    link = expiring_link_list(image=image).filter(pk=link_id).first()
    if link is None:
        raise NotFound("No such link (it may have expired or been revoked).")
    return link
