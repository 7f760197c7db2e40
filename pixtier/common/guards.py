"""Writes that may take access away outdate cached decisions themselves.

Models whose rows decide what may be served (users, tiers and their heights, images,
thumbnails, links) use these bases: ``save()`` of an existing row, ``delete()``, and the
querysets' ``update()``, ``bulk_update()`` and ``delete()`` call
:func:`pixtier.common.freshness.access_revoked` in the same transaction. The change form,
an admin bulk action, the API and the shell all write through them, so none of them can
leave a stale decision behind (only raw SQL could).
"""

from collections.abc import Iterable
from typing import Any, ClassVar

from django.db import models, transaction

from pixtier.common.freshness import access_revoked

# Who loses access when rows change: owners' ids, or None for everyone.
Owners = list[int] | None


def _revoke(owners: Owners) -> None:
    if owners is None:
        access_revoked(everyone=True)
    else:
        access_revoked(owner_ids=owners)


class AccessQuerySet(models.QuerySet[Any]):
    # Updating any of these may take access away ("*": any field).
    access_fields: ClassVar[frozenset[str]] = frozenset({"*"})

    def access_owners(self) -> Owners:
        """The owners whose access these rows decide (None: everyone's)."""
        raise NotImplementedError

    def _takes_access(self, fields: Iterable[str], values: dict[str, Any]) -> bool:
        return "*" in self.access_fields or bool(self.access_fields & set(fields))

    def update(self, **kwargs: Any) -> int:
        if not self._takes_access(kwargs, kwargs):
            return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            _revoke(self.access_owners())
            return super().update(**kwargs)

    def bulk_update(
        self, objs: Iterable[Any], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        objs, fields = list(objs), list(fields)
        if not self._takes_access(fields, {}):
            return super().bulk_update(objs, fields, batch_size)
        with transaction.atomic(using=self.db):
            _revoke(self.filter(pk__in=[obj.pk for obj in objs]).access_owners())
            return super().bulk_update(objs, fields, batch_size)

    def delete(self) -> tuple[int, dict[str, int]]:
        with transaction.atomic(using=self.db):
            _revoke(self.access_owners())
            return super().delete()


class AccessModel(models.Model):
    """``save()`` of an existing row and ``delete()`` outdate the owners' decisions."""

    access_fields: ClassVar[frozenset[str]] = frozenset({"*"})
    # Whether a new row changes what cached decisions say (a tier's new height must be
    # served at once, so the cached capabilities that lack it are outdated too).
    adding_changes_access: ClassVar[bool] = False

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        fields = kwargs.get("update_fields")
        if self._state.adding:
            changes = self.adding_changes_access
        else:
            changes = (
                fields is None
                or "*" in self.access_fields
                or bool(self.access_fields & set(fields))
            )
        if not changes:
            super().save(*args, **kwargs)
            return
        with transaction.atomic(using=kwargs.get("using")):
            _revoke(self.access_owners())
            super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        with transaction.atomic(using=kwargs.get("using")):
            _revoke(self.access_owners())
            return super().delete(*args, **kwargs)

    def access_owners(self) -> Owners:
        raise NotImplementedError
