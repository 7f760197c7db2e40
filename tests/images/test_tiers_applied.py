"""A tier change applies at once to the existing images of its users (SPEC section 1).

Every test runs twice: reading the tier per request, and with the tier cache on (the
cache must be invalidated by the edit, not outlived by it).
"""

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image as PILImage
from rest_framework.test import APIClient

from pixtier.accounts.models import ThumbnailSize, Tier, User
from pixtier.images.models import Thumbnail
from tests.helpers import jpeg_bytes, stored_files


@pytest.fixture(autouse=True, params=[0, 300], ids=["tier-read-per-request", "tier-cached"])
def tier_cache(request: pytest.FixtureRequest, settings: Any) -> Iterator[int]:
    settings.PIXTIER_TIER_CACHE_SECONDS = request.param
    cache.clear()  # edits rolled back by other tests send no signal
    yield request.param
    cache.clear()


@pytest.fixture
def signed_in() -> Callable[[User], APIClient]:
    """A session client: the user (and so their tier) is loaded afresh on every request."""

    def make(user: User) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


def heights(image: dict[str, Any]) -> list[int]:
    return [t["height"] for t in image["thumbnails"]]


def url_for_height(image_id: str, height: int) -> str:
    return f"http://testserver/api/v1/images/{image_id}/thumbnails/{height}/"


def pixel_height(response: Any) -> int:
    return PILImage.open(io.BytesIO(response.getvalue())).height


def test_a_downgrade_to_basic_takes_effect_on_existing_images(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    signed_in: Callable[[User], APIClient],
    client_for: Callable[[User | None], APIClient],
    tier: Callable[[str], Tier],
) -> None:
    image = uploaded(enterprise_user, jpeg_bytes(800, 600))
    owner = signed_in(enterprise_user)
    anyone = client_for(None)
    old_400 = url_for_height(image["id"], 400)
    to_original = owner.post(image["expiring_links"], {"expires_in": 600}, format="json").json()
    to_400 = owner.post(
        image["expiring_links"], {"expires_in": 600, "height": 400}, format="json"
    ).json()
    # Everything works (and the tier is cached, when caching is on) before the change.
    for url in (old_400, image["original"]):
        assert owner.get(url).status_code == 200
    for link in (to_original, to_400):
        assert anyone.get(link["url"]).status_code == 200

    enterprise_user.tier = tier("Basic")
    enterprise_user.save()

    now = owner.get(image["url"]).json()
    assert heights(now) == [200]
    assert now["original"] is None
    assert now["expiring_links"] is None
    for url in (old_400, image["original"]):
        refused = owner.get(url)
        assert refused.status_code == 403
        assert "Basic" in refused.json()["detail"]
    for link in (to_original, to_400):
        dead = anyone.get(link["url"])
        assert dead.status_code == 403
        assert "detail" in dead.json()
    assert owner.get(image["expiring_links"]).status_code == 403
    assert owner.get(url_for_height(image["id"], 200)).status_code == 200


def test_an_upgrade_to_premium_offers_and_serves_400(
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    signed_in: Callable[[User], APIClient],
    tier: Callable[[str], Tier],
) -> None:
    image = uploaded(basic_user, jpeg_bytes(800, 600))
    owner = signed_in(basic_user)
    assert owner.get(url_for_height(image["id"], 400)).status_code == 403

    basic_user.tier = tier("Premium")
    basic_user.save()

    now = owner.get(image["url"]).json()
    assert now["thumbnails"][1] == {"height": 400, "width": 533, "url": now["thumbnails"][1]["url"]}
    response = owner.get(now["thumbnails"][1]["url"])
    assert response.status_code == 200
    assert pixel_height(response) == 400
    assert owner.get(now["original"]).status_code == 200


def test_a_height_added_to_a_tier_appears_at_once_and_is_served(
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    signed_in: Callable[[User], APIClient],
    tier: Callable[[str], Tier],
) -> None:
    image = uploaded(basic_user, jpeg_bytes(800, 600))
    owner = signed_in(basic_user)
    assert heights(owner.get(image["url"]).json()) == [200]

    ThumbnailSize.objects.create(tier=tier("Basic"), height=300)

    now = owner.get(image["url"]).json()
    assert heights(now) == [200, 300]
    response = owner.get(now["thumbnails"][1]["url"])
    assert response.status_code == 200
    assert pixel_height(response) == 300
    listed = owner.get("/api/v1/images/").json()["results"][0]
    assert heights(listed) == [200, 300]


def test_a_height_added_to_a_tier_is_made_in_the_background_for_existing_images(
    settings: Any,
    basic_user: User,
    premium_user: User,
    uploaded: Callable[..., dict[str, Any]],
    tier: Callable[[str], Tier],
    django_capture_on_commit_callbacks: Any,
) -> None:
    basic_images = [uploaded(basic_user)["id"], uploaded(basic_user)["id"]]
    premium_image = uploaded(premium_user)["id"]
    settings.PIXTIER_BACKGROUND = "sync"

    with django_capture_on_commit_callbacks(execute=True):
        ThumbnailSize.objects.create(tier=tier("Basic"), height=300)

    made = Thumbnail.objects.filter(height=300, state=Thumbnail.State.READY)
    assert sorted(str(t.image_id) for t in made) == sorted(basic_images)
    for thumb in made:
        assert default_storage.exists(thumb.key)
    # Premium's images keep the heights their upload made, and get no 300.
    assert not Thumbnail.objects.filter(image_id=premium_image, height=300).exists()


def test_a_height_removed_from_a_tier_is_refused_at_once(
    premium_user: User,
    uploaded: Callable[..., dict[str, Any]],
    signed_in: Callable[[User], APIClient],
    tier: Callable[[str], Tier],
) -> None:
    image = uploaded(premium_user)
    owner = signed_in(premium_user)
    old_400 = url_for_height(image["id"], 400)
    assert owner.get(old_400).status_code == 200  # made and stored

    ThumbnailSize.objects.get(tier=tier("Premium"), height=400).delete()

    assert heights(owner.get(image["url"]).json()) == [200]
    refused = owner.get(old_400)
    assert refused.status_code == 403
    assert "available: 200" in refused.json()["detail"]


def test_pruning_deletes_thumbnails_of_removed_heights_and_keeps_the_rest(
    premium_user: User,
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    signed_in: Callable[[User], APIClient],
    tier: Callable[[str], Tier],
    django_capture_on_commit_callbacks: Any,
) -> None:
    premium_image = uploaded(premium_user)
    enterprise_image = uploaded(enterprise_user)
    for user, image in ((premium_user, premium_image), (enterprise_user, enterprise_image)):
        for entry in image["thumbnails"]:
            assert signed_in(user).get(entry["url"]).status_code == 200
    premium_200 = Thumbnail.objects.get(image_id=premium_image["id"], height=200)
    premium_400 = Thumbnail.objects.get(image_id=premium_image["id"], height=400)
    before = stored_files()

    ThumbnailSize.objects.get(tier=tier("Premium"), height=400).delete()
    assert stored_files() == before  # removal refuses at once; files wait for prune
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # files go once rows commit
        call_command("prune_thumbnails", stdout=out)

    assert "Pruned 1 thumbnail" in out.getvalue()
    assert stored_files() == sorted(set(before) - {premium_400.key})
    assert not Thumbnail.objects.filter(pk=premium_400.pk).exists()
    # Other heights and other tiers' 400s stay, and are served without remaking them.
    assert set(
        Thumbnail.objects.filter(image_id=enterprise_image["id"]).values_list("height", flat=True)
    ) == {200, 400}
    kept = signed_in(premium_user).get(premium_image["thumbnails"][0]["url"])
    assert kept.status_code == 200
    assert Thumbnail.objects.get(image_id=premium_image["id"], height=200) == premium_200
    assert default_storage.exists(premium_200.key)


def test_turning_the_original_link_off_refuses_the_original_at_once(
    premium_user: User,
    uploaded: Callable[..., dict[str, Any]],
    signed_in: Callable[[User], APIClient],
    tier: Callable[[str], Tier],
) -> None:
    image = uploaded(premium_user)
    owner = signed_in(premium_user)
    assert owner.get(image["original"]).status_code == 200

    premium = tier("Premium")
    premium.original_link = False
    premium.save()

    assert owner.get(image["url"]).json()["original"] is None
    refused = owner.get(image["original"])
    assert refused.status_code == 403
    assert "original" in refused.json()["detail"]
    assert owner.get(image["thumbnails"][0]["url"]).status_code == 200


def test_turning_expiring_links_off_stops_existing_links_at_once(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    signed_in: Callable[[User], APIClient],
    client_for: Callable[[User | None], APIClient],
    tier: Callable[[str], Tier],
) -> None:
    image = uploaded(enterprise_user)
    owner = signed_in(enterprise_user)
    link = owner.post(image["expiring_links"], {"expires_in": 300}, format="json").json()
    assert client_for(None).get(link["url"]).status_code == 200

    enterprise = tier("Enterprise")
    enterprise.expiring_links = False
    enterprise.save()

    assert owner.get(image["url"]).json()["expiring_links"] is None
    dead = client_for(None).get(link["url"])
    assert dead.status_code == 403
    assert dead.get("Content-Type") == "application/json"
    assert (
        owner.post(image["expiring_links"], {"expires_in": 300}, format="json").status_code == 403
    )


def test_moving_a_user_to_a_custom_tier_offers_exactly_its_heights(
    premium_user: User,
    uploaded: Callable[..., dict[str, Any]],
    signed_in: Callable[[User], APIClient],
    custom_tier: Tier,
) -> None:
    image = uploaded(premium_user, jpeg_bytes(800, 600))
    owner = signed_in(premium_user)

    premium_user.tier = custom_tier
    premium_user.save()

    now = owner.get(image["url"]).json()
    assert [(t["height"], t["width"]) for t in now["thumbnails"]] == [(100, 133), (300, 400)]
    assert now["original"] is None
    assert owner.get(url_for_height(image["id"], 200)).status_code == 403
    assert pixel_height(owner.get(now["thumbnails"][0]["url"])) == 100
