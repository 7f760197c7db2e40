"""Downloads with the shared cache on (as with Redis): a warm expiring-link download asks
the database nothing, a warm thumbnail one row fewer, and every change that must kill or
change what a download serves still does at once."""

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image as PILImage
from rest_framework.test import APIClient

from pixtier.accounts.models import ThumbnailSize, Tier, User
from pixtier.images.models import Image, Thumbnail
from tests.helpers import ORIGINAL, assert_no_image, body_of, share


@pytest.fixture(autouse=True)
def caching(settings: Any) -> Iterator[None]:
    settings.PIXTIER_DOWNLOAD_CACHE_SECONDS = 300
    settings.PIXTIER_TIER_CACHE_SECONDS = 300
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def warm_link(owner: APIClient, anonymous: APIClient, image: dict[str, Any]) -> dict[str, Any]:
    """A link to the original, downloaded once so that it is cached."""
    link = share(owner, image, expires_in=30000)
    assert anonymous.get(link["url"]).status_code == 200
    return link


def test_a_warm_link_download_asks_the_database_nothing(
    anonymous: APIClient, warm_link: dict[str, Any]
) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = anonymous.get(warm_link["url"])

    assert response.status_code == 200
    assert body_of(response) == ORIGINAL
    assert [q["sql"] for q in queries.captured_queries] == []


def test_a_cold_link_download_reads_the_link_in_one_query(
    anonymous: APIClient, warm_link: dict[str, Any]
) -> None:
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        response = anonymous.get(warm_link["url"])

    assert response.status_code == 200
    tables = [q["sql"].split(" FROM ")[1].split()[0] for q in queries.captured_queries]
    assert tables.count('"links_expiringlink"') == 1


def test_the_cache_holds_none_of_the_owners_secrets(warm_link: dict[str, Any]) -> None:
    cached = cache.get(f"pixtier:link-download:{warm_link['id']}")

    assert cached is not None
    deferred = cached.image.owner.get_deferred_fields()
    assert {"password", "email", "username", "first_name", "last_name"} <= deferred


def test_a_cached_link_revoked_is_dead_at_once(
    owner: APIClient, anonymous: APIClient, warm_link: dict[str, Any]
) -> None:
    assert owner.delete(warm_link["api_url"]).status_code == 204

    assert_no_image(anonymous.get(warm_link["url"]), 410)


def test_a_cached_link_dies_with_its_image(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any], warm_link: dict[str, Any]
) -> None:
    assert owner.delete(image["url"]).status_code == 204

    assert_no_image(anonymous.get(warm_link["url"]), 410)


def test_a_cached_link_dies_when_its_owner_is_deactivated(
    enterprise_user: User, anonymous: APIClient, warm_link: dict[str, Any]
) -> None:
    enterprise_user.is_active = False
    enterprise_user.save()

    assert_no_image(anonymous.get(warm_link["url"]), 410)


def test_a_cached_link_stops_when_its_owner_moves_to_a_tier_without_links(
    enterprise_user: User,
    tier: Callable[[str], Any],
    anonymous: APIClient,
    warm_link: dict[str, Any],
) -> None:
    enterprise_user.tier = tier("Premium")
    enterprise_user.save(update_fields=["tier"])

    assert_no_image(anonymous.get(warm_link["url"]), 403)


def test_a_cached_link_serves_the_images_new_name(
    anonymous: APIClient, image: dict[str, Any], warm_link: dict[str, Any]
) -> None:
    renamed = Image.objects.get(pk=image["id"])
    renamed.title = "renamed"
    renamed.save()

    response = anonymous.get(warm_link["url"])

    assert response.status_code == 200
    assert "renamed" in response["Content-Disposition"]


def test_signing_in_does_not_empty_the_cache(
    enterprise_user: User, anonymous: APIClient, warm_link: dict[str, Any]
) -> None:
    enterprise_user.save(update_fields=["last_login"])

    with CaptureQueriesContext(connection) as queries:
        assert anonymous.get(warm_link["url"]).status_code == 200
    assert len(queries) == 0


def test_a_warm_thumbnail_download_reads_no_thumbnail_row(
    owner: APIClient, image: dict[str, Any]
) -> None:
    url = image["thumbnails"][1]["url"]
    assert owner.get(url).status_code == 200

    with CaptureQueriesContext(connection) as queries:
        response = owner.get(url)

    assert response.status_code == 200
    assert not [q for q in queries.captured_queries if "images_thumbnail" in q["sql"]]


def test_a_cached_thumbnail_pruned_and_made_again_serves_the_new_file(
    owner: APIClient,
    image: dict[str, Any],
    tier: Callable[[str], Tier],
    django_capture_on_commit_callbacks: Any,
) -> None:
    url = image["thumbnails"][1]["url"]
    assert owner.get(url).status_code == 200  # cached
    pruned = Thumbnail.objects.get(image_id=image["id"], height=400)

    ThumbnailSize.objects.get(tier=tier("Enterprise"), height=400).delete()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("prune_thumbnails", stdout=io.StringIO())
    ThumbnailSize.objects.create(tier=tier("Enterprise"), height=400)

    response = owner.get(url)
    assert response.status_code == 200
    assert PILImage.open(io.BytesIO(body_of(response))).height == 400
    assert Thumbnail.objects.get(image_id=image["id"], height=400).pk != pruned.pk
