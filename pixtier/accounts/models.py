"""Users and the account tiers that decide what each user's images offer."""

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.crypto import salted_hmac

from pixtier.common.guards import AccessModel, AccessQuerySet, Owners

# The tallest image JPEG or PNG encoders here can hold: a taller "thumbnail" could only
# ever be the original, so any height up to this is accepted.
MAX_THUMBNAIL_HEIGHT = 65_535


class TierQuerySet(AccessQuerySet):
    def access_owners(self) -> Owners:
        return None  # every user of the tier: everyone's version


class Tier(AccessModel):
    objects = TierQuerySet.as_manager()

    name = models.CharField(max_length=64, unique=True)
    original_link = models.BooleanField(
        default=False, help_text="Users may fetch the original file."
    )
    expiring_links = models.BooleanField(
        default=False, help_text="Users may create public links that expire."
    )
    # Quotas (SPEC 11): empty = unlimited. Lowering one deletes nothing; it only blocks
    # uploads until the user is back under it.
    max_images = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most images a user may keep; empty for no limit."
    )
    max_storage_bytes = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Most bytes of originals a user may keep; empty for no limit.",
    )
    max_upload_bytes = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Largest single upload in bytes, at most the global MAX_UPLOAD_BYTES; "
        "empty for the global limit.",
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

    def clean(self) -> None:
        limit = settings.PIXTIER_MAX_UPLOAD_BYTES
        if self.max_upload_bytes is not None and self.max_upload_bytes > limit:
            raise ValidationError(
                {
                    "max_upload_bytes": f"At most the global upload limit, {limit} bytes "
                    "(MAX_UPLOAD_BYTES); leave it empty to use that."
                }
            )

    def upload_limit(self) -> int:
        """The largest upload this tier accepts: its own limit within the global one."""
        return upload_limit(self.max_upload_bytes)

    def access_owners(self) -> Owners:
        return None


def upload_limit(tier_limit: int | None) -> int:
    """A tier's upload limit within the global one (which may have been lowered since)."""
    limit: int = settings.PIXTIER_MAX_UPLOAD_BYTES
    return limit if tier_limit is None else min(tier_limit, limit)


class ThumbnailSize(AccessModel):
    # Changing or removing a height takes access away; adding one gives it, and the cached
    # tier capabilities that lack it must go as well (SPEC §1: at once).
    adding_changes_access = True
    objects = TierQuerySet.as_manager()

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

    def access_owners(self) -> Owners:
        return None


def default_tier() -> Tier:
    """The tier new users get: ``DEFAULT_TIER`` (Basic), or the first tier if renamed."""
    tier: Tier | None = Tier.objects.filter(name=settings.PIXTIER_DEFAULT_TIER).first()
    tier = tier or Tier.objects.order_by("pk").first()
    if tier is None:
        raise Tier.DoesNotExist("Create a tier before creating users.")
    return tier


def credential_stamp(password_hash: str) -> str:
    """What changes whenever the password does: a keyed digest of its hash, so a token
    or a cache may carry it without carrying anything that helps guess the password."""
    digest = salted_hmac("pixtier.credential-stamp", password_hash, algorithm="sha256")
    return digest.hexdigest()[:32]


class UserQuerySet(AccessQuerySet):
    # What a change may take away: the tier, the account, the password (tokens).
    access_fields = frozenset({"tier", "tier_id", "is_active", "password", "credential_stamp"})

    def access_owners(self) -> Owners:
        return list(self.values_list("pk", flat=True))


class UserManager(DjangoUserManager["User"]):
    """Django's, with writes that outdate cached decisions (pixtier.common.guards)."""

    def get_queryset(self) -> UserQuerySet:
        return UserQuerySet(self.model, using=self._db)


class User(AbstractUser, AccessModel):
    access_fields = UserQuerySet.access_fields
    objects: ClassVar[UserManager] = UserManager()

    # blank: forms may leave it empty and save() assigns the default tier. (A field
    # default would query the database whenever a User is instantiated.)
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="users", blank=True)
    # JWTs carry it (pixtier.accounts.authentication): a token whose stamp is not the
    # user's current one was issued before a password change and is refused. Kept in a
    # column so that a cached user can be checked without its password hash.
    credential_stamp = models.CharField(max_length=32, editable=False, default="")

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.tier_id is None:
            self.tier = default_tier()
        # Every save path that writes the password writes the stamp with it: set_password
        # and save, the admin's and changepassword's forms, and a rehash at login.
        self.credential_stamp = credential_stamp(self.password)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "password" in update_fields:
            kwargs["update_fields"] = {*update_fields, "credential_stamp"}
        super().save(*args, **kwargs)

    def access_owners(self) -> Owners:
        return [self.pk]
