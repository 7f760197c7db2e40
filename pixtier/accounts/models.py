"""Users and the account tiers that decide what each user's images offer."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

# The tallest image JPEG or PNG encoders here can hold: a taller "thumbnail" could only
# ever be the original, so any height up to this is accepted.
MAX_THUMBNAIL_HEIGHT = 65_535


class Tier(models.Model):
    name = models.CharField(max_length=64, unique=True)
    original_link = models.BooleanField(
        default=False, help_text="Users may fetch the original file."
    )
    expiring_links = models.BooleanField(
        default=False, help_text="Users may create public links that expire."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="tier_name_unique_ignoring_case",
                violation_error_message="A tier with this name (ignoring case) already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ThumbnailSize(models.Model):
    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="sizes")
    height = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_THUMBNAIL_HEIGHT)],
        help_text=f"Thumbnail height in pixels (1-{MAX_THUMBNAIL_HEIGHT}).",
    )

    class Meta:
        ordering = ["height"]
        constraints = [
            models.UniqueConstraint(fields=["tier", "height"], name="unique_tier_height"),
            models.CheckConstraint(
                condition=models.Q(height__gte=1) & models.Q(height__lte=MAX_THUMBNAIL_HEIGHT),
                name="thumbnail_height_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.height} px"


def default_tier() -> Tier:
    """The tier new users get: ``DEFAULT_TIER`` (Basic), or the first tier if renamed."""
    tier = Tier.objects.filter(name=settings.PIXTIER_DEFAULT_TIER).first()
    tier = tier or Tier.objects.order_by("pk").first()
    if tier is None:
        raise Tier.DoesNotExist("Create a tier before creating users.")
    return tier


class User(AbstractUser):
    # blank: forms may leave it empty and save() assigns the default tier. (A field
    # default would query the database whenever a User is instantiated.)
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="users", blank=True)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.tier_id is None:
            self.tier = default_tier()
        super().save(*args, **kwargs)
