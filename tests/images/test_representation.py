"""The image representation (SPEC 4) is built by hand for speed; it must stay exactly what
DRF would build from the serializer's declared fields, for every tier."""

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from pixtier.accounts.models import User
from pixtier.images.models import Image
from pixtier.images.representation import ImageSerializer, representation_context

SPEC_FIELDS = [
    "id",
    "url",
    "title",
    "width",
    "height",
    "content_type",
    "size",
    "uploaded_at",
    "thumbnails",
    "original",
    "expiring_links",
    "placeholder",
    "dominant_color",
]


@pytest.mark.parametrize("tier_name", ["Basic", "Premium", "Enterprise"])
def test_the_representation_is_what_drf_builds_from_the_declared_fields(
    make_user: Callable[..., User], uploaded: Callable[..., dict[str, Any]], tier_name: str
) -> None:
    user = make_user(tier_name)
    image = Image.objects.get(pk=uploaded(user)["id"])
    request = Request(APIRequestFactory().get("/api/v1/images/"))
    request.user = user
    serializer = ImageSerializer(context=representation_context(request))

    by_hand = serializer.to_representation(image)
    by_drf = serializers.ModelSerializer.to_representation(serializer, image)

    assert list(by_hand) == SPEC_FIELDS
    assert by_hand == dict(by_drf)


def test_a_listed_page_shows_every_field(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], Any],
) -> None:
    made = uploaded(enterprise_user)

    listed = client_for(enterprise_user).get("/api/v1/images/").json()["results"]

    assert listed == [made]
