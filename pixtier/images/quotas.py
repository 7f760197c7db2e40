"""Tier quotas on uploads (SPEC 11): how many images, how many bytes of originals, and
how large one upload may be."""

from django.db import transaction

from pixtier.accounts.models import User
from pixtier.accounts.selectors import (
    Capabilities,
    Usage,
    tier_capabilities,
    tier_capabilities_load,
    user_usage,
)
from pixtier.common.exceptions import ImageTooLarge, QuotaExceeded
from pixtier.common.units import human_bytes


def upload_quota_check(*, owner: User, size: int, lock: bool = False) -> None:
    """Raise unless the owner's tier takes one more image of ``size`` bytes.

    Called twice per upload: first before anything is read or stored (a refusal costs
    nothing), then with ``lock=True`` in the transaction that records the image. The lock
    is the owner's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's immediate
    transactions serialise writers anyway), so two uploads of one owner are judged one
    after the other and never overshoot together.
    """
    if lock:
        assert transaction.get_connection().in_atomic_block, "lock=True needs a transaction"
        tier_id = (
            User.objects.select_for_update().filter(pk=owner.pk).values_list("tier_id", flat=True)
        ).get()
        # Fresh from the database: the row is locked, the cache may be a moment behind.
        capabilities = tier_capabilities_load(tier_id=tier_id)
    else:
        capabilities = tier_capabilities(user=owner)
    _size_check(capabilities, size)
    if capabilities.max_images is None and capabilities.max_storage_bytes is None:
        return
    _usage_check(capabilities, user_usage(user_id=owner.pk), size)


def _size_check(capabilities: Capabilities, size: int) -> None:
    # Only the tier's own limit; the global one is the upload service's (with its message).
    tier_limit = capabilities.max_upload_bytes
    if tier_limit is not None and size > tier_limit and tier_limit == capabilities.upload_limit:
        raise ImageTooLarge(
            f"The file is {human_bytes(size)}; the {capabilities.tier_name} tier's upload "
            f"limit is {human_bytes(tier_limit)}."
        )


def _usage_check(capabilities: Capabilities, usage: Usage, size: int) -> None:
    tier = capabilities.tier_name
    if capabilities.max_images is not None and usage.images + 1 > capabilities.max_images:
        raise QuotaExceeded(
            f"Image quota reached: the {tier} tier keeps at most {capabilities.max_images} "
            f"images and you have {usage.images}. Delete some to upload more.",
            quota="max_images",
        )
    storage = capabilities.max_storage_bytes
    if storage is not None and usage.storage_bytes + size > storage:
        raise QuotaExceeded(
            f"Storage quota reached: the {tier} tier keeps at most {human_bytes(storage)} of "
            f"originals, you use {human_bytes(usage.storage_bytes)} and this file is "
            f"{human_bytes(size)}. Delete some images to upload more.",
            quota="max_storage_bytes",
        )
