"""Expiring share links: public capability URLs to an image's original or a thumbnail."""

import uuid
from datetime import datetime

from django.db import models
from django.utils import timezone

from pixtier.images.models import Image


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

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["image", "-created_at", "-id"], name="link_image_newest"),
            models.Index(fields=["expires_at"], name="link_expires_at"),
        ]

    def __str__(self) -> str:
        target = f"{self.height} px" if self.height else "original"
        return f"{self.image_id} ({target}) until {self.expires_at:%Y-%m-%d %H:%M:%S}"

    def status(self, now: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "valid" if (now or timezone.now()) < self.expires_at else "expired"
