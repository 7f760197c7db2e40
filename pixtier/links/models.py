"""Expiring share links: public capability URLs to an image's original or a thumbnail."""

import uuid
from datetime import datetime

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from pixtier.common.guards import AccessModel, AccessQuerySet, Owners
from pixtier.images.models import Image

MAX_DOWNLOADS_LIMIT = 1_000_000

# A link's states, decided in one place (:meth:`ExpiringLink.status`, and the same
# conditions as queryset filters in :class:`ExpiringLinkQuerySet`).
VALID, EXPIRED, USED_UP, REVOKED = "valid", "expired", "used up", "revoked"
STATES = (VALID, EXPIRED, USED_UP, REVOKED)


USED_UP_LINKS = models.Q(max_downloads__isnull=False, downloads__gte=models.F("max_downloads"))


class ExpiringLinkQuerySet(AccessQuerySet):
    # Revoking (or rewriting) a link takes it away; so does deleting it.
    access_fields = frozenset({"revoked_at", "expires_at", "height", "image", "image_id"})

    def access_owners(self) -> Owners:
        return list(self.order_by().values_list("image__owner_id", flat=True).distinct())

    def in_state(self, state: str, now: datetime | None = None) -> "ExpiringLinkQuerySet":
        now = now or timezone.now()
        match state:
            case "valid":
                return self.filter(revoked_at__isnull=True, expires_at__gt=now).exclude(
                    USED_UP_LINKS
                )
            case "expired":
                return self.filter(revoked_at__isnull=True, expires_at__lte=now)
            case "used up":
                return self.filter(USED_UP_LINKS, revoked_at__isnull=True, expires_at__gt=now)
            case "revoked":
                return self.filter(revoked_at__isnull=False)
        raise ValueError(f"no link state {state!r}")

    def valid(self, now: datetime | None = None) -> "ExpiringLinkQuerySet":
        """Links that still work: not revoked, not expired, not used up."""
        return self.in_state(VALID, now)


class ExpiringLink(AccessModel):
    access_fields = ExpiringLinkQuerySet.access_fields
    objects = ExpiringLinkQuerySet.as_manager()

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="expiring_links")
    height = models.PositiveIntegerField(
        null=True, blank=True, help_text="Thumbnail height; empty for the original."
    )
    expires_in = models.PositiveIntegerField(help_text="Lifetime in seconds, as requested.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Counting (SPEC 11): a download counts when a full body or the first byte range
    # starts; the link is used up when ``downloads`` reaches ``max_downloads``.
    max_downloads = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DOWNLOADS_LIMIT)],
        help_text=f"Downloads allowed (1-{MAX_DOWNLOADS_LIMIT}); empty for no limit.",
    )
    downloads = models.PositiveIntegerField(default=0)
    last_downloaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["image", "-created_at", "-id"], name="link_image_newest"),
            models.Index(fields=["expires_at"], name="link_expires_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_downloads__isnull=True)
                | models.Q(downloads__lte=models.F("max_downloads")),
                name="link_downloads_within_limit",
            ),
        ]

    def __str__(self) -> str:
        target = f"{self.height} px" if self.height else "original"
        return f"{self.image_id} ({target}) until {self.expires_at:%Y-%m-%d %H:%M:%S}"

    @property
    def used_up(self) -> bool:
        return self.max_downloads is not None and self.downloads >= self.max_downloads

    def status(self, now: datetime | None = None) -> str:
        return link_status(
            revoked_at=self.revoked_at,
            expires_at=self.expires_at,
            used_up=self.used_up,
            now=now or timezone.now(),
        )

    def access_owners(self) -> Owners:
        return list(Image.objects.filter(pk=self.image_id).values_list("owner_id", flat=True))


def link_status(
    *, revoked_at: datetime | None, expires_at: datetime, used_up: bool, now: datetime
) -> str:
    """Valid, expired, used up or revoked: the rule ExpiringLinkQuerySet.in_state spells
    for SQL."""
    if revoked_at is not None:
        return REVOKED
    if now >= expires_at:
        return EXPIRED
    return USED_UP if used_up else VALID
