"""pixtier.common.prepared: the ORM writes a query once, each call binds its values, and
the rows come back as the queryset itself would give them (types converted)."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from pixtier.accounts.models import User
from pixtier.common.prepared import Prepared
from pixtier.images.models import Image


def _images(owner_id: int, image_id: uuid.UUID) -> QuerySet[Any]:
    return Image.objects.filter(owner_id=owner_id, pk=image_id).values_list(
        "id", "uploaded_at", "owner__is_active", "title"
    )


IMAGES = Prepared(_images, owner_id=int, image_id=uuid.UUID)


def test_a_prepared_query_gives_the_querysets_rows_in_one_query(
    make_user: Callable[..., User], uploaded: Callable[..., dict[str, Any]]
) -> None:
    owner = make_user("Basic")
    image_id = uuid.UUID(uploaded(owner, title="a title")["id"])

    with CaptureQueriesContext(connection) as queries:
        rows = IMAGES(owner_id=owner.pk, image_id=image_id)

    assert rows == list(_images(owner.pk, image_id))
    assert isinstance(rows[0][0], uuid.UUID)  # converted as the ORM converts them
    assert rows[0][2] is True
    assert len(queries) == 1


def test_a_prepared_query_binds_each_calls_values(
    make_user: Callable[..., User], uploaded: Callable[..., dict[str, Any]]
) -> None:
    owner, other = make_user("Basic"), make_user("Basic")
    image_id = uuid.UUID(uploaded(owner)["id"])

    assert IMAGES(owner_id=other.pk, image_id=image_id) == []
    assert IMAGES(owner_id=owner.pk, image_id=uuid.uuid4()) == []
    assert len(IMAGES(owner_id=owner.pk, image_id=image_id)) == 1


def test_a_value_that_never_reaches_the_sql_is_refused(db: None) -> None:
    unused = Prepared(
        lambda owner_id, height: Image.objects.filter(owner_id=owner_id).values_list("id"),
        owner_id=int,
        height=int,
    )

    with pytest.raises(ValueError, match="height"):
        unused(owner_id=1, height=2)
