"""Expiring share links: public capability URLs to an image's original or a thumbnail."""

import uuid
from datetime import datetime

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from pixtier.images.models import Image

MAX_DOWNLOADS_LIMIT = 1_000_000


class ExpiringLink(models.Model):
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
        if self.revoked_at is not None:
            return "revoked"
        if self.used_up:
            return "used up"
        return "valid" if (now or timezone.now()) < self.expires_at else "expired"
