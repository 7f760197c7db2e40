"""Uploaded images and the thumbnails made from them."""

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from pixtier.common.guards import AccessModel, AccessQuerySet, Owners


def _owners(queryset: models.QuerySet[Any], field: str) -> Owners:
    return list(queryset.order_by().values_list(field, flat=True).distinct())


class ImageQuerySet(AccessQuerySet):
    def access_owners(self) -> Owners:
        return _owners(self, "owner_id")


class Image(AccessModel):
    objects = ImageQuerySet.as_manager()

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images"
    )
    title = models.CharField(max_length=200, blank=True)
    # Storage key of the original, through Django's storage API (never a filesystem path).
    original_key = models.CharField(max_length=255)
    # Dimensions as displayed, after EXIF orientation.
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    content_type = models.CharField(max_length=32)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(auto_now_add=True)
    # What a client paints before a thumbnail arrives (pixtier.images.placeholders); empty
    # only for images stored before they existed, until `backfill_placeholders` runs.
    placeholder = models.CharField(max_length=100, blank=True, help_text="A BlurHash.")
    dominant_color = models.CharField(max_length=7, blank=True, help_text="#rrggbb")

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-uploaded_at", "-id"], name="image_owner_newest"),
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)

    def access_owners(self) -> Owners:
        return [self.owner_id]


class ThumbnailQuerySet(AccessQuerySet):
    """Only READY rows were ever served: deleting or un-readying them, or giving one a new
    file (a refined encode's key), outdates what was decided about them; claims (PENDING
    rows) come and go freely, and turn READY with their first file."""

    def _takes_access(self, fields: Any, values: dict[str, Any]) -> bool:
        if "state" in values:
            return bool(values["state"] != Thumbnail.State.READY)
        return "key" in values

    def access_owners(self) -> Owners:
        return _owners(self.filter(state=Thumbnail.State.READY), "image__owner_id")

    def delete(self) -> tuple[int, dict[str, int]]:
        if not self.filter(state=Thumbnail.State.READY).exists():
            return models.QuerySet.delete(self)
        return super().delete()


class Thumbnail(AccessModel):
    """A stored thumbnail for one tier height H in one format, or a claim to make it.

    The row is the lock: whoever inserts it (state PENDING) makes the file, on any
    process or host; everybody else waits for READY. ``claimed_at`` lets a later
    request take over a claim whose maker died.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        READY = "ready"

    objects = ThumbnailQuerySet.as_manager()

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="thumbnails")
    height = models.PositiveIntegerField(help_text="The tier height H this thumbnail is for.")
    format = models.CharField(
        max_length=4,
        choices=[(fmt, fmt) for fmt in ("jpeg", "png", "webp", "avif")],
        help_text="The file's format: the original's, or one a client negotiated.",
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    claimed_at = models.DateTimeField()
    key = models.CharField(max_length=255, blank=True)
    # Pixel size of the file (never larger than the original: no upscaling).
    pixel_width = models.PositiveIntegerField(null=True)
    pixel_height = models.PositiveIntegerField(null=True)
    size = models.PositiveBigIntegerField(null=True)
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(null=True)
    # Which encoder setting made the file, for formats with two (processing.Encoding):
    # a request's fast AVIF is re-encoded thorough in the background, once.
    encoding = models.CharField(
        max_length=8,
        blank=True,
        choices=[("fast", "fast"), ("thorough", "thorough")],
        help_text="AVIF: fast (a first request's, to be refined) or thorough; "
        "empty for formats with one setting.",
    )

    class Meta:
        ordering = ["height"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "height", "format"], name="unique_image_height_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.image_id} @ {self.height} px {self.format} ({self.state})"

    def access_owners(self) -> Owners:
        if self.state != Thumbnail.State.READY:
            return []
        return list(Image.objects.filter(pk=self.image_id).values_list("owner_id", flat=True))
