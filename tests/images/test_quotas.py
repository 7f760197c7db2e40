"""Tier quotas (SPEC 11): max_images, max_storage_bytes and max_upload_bytes refuse an
upload with a message naming the quota and the usage, store nothing, never overshoot
under concurrency, show in /me/ and /tiers/, and lowering one deletes nothing."""

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from pixtier.accounts.models import Tier, User
from pixtier.images.models import Image
from tests.concurrency import at_once
from tests.helpers import jpeg_bytes, stored_files, upload

Uploaded = Callable[..., dict[str, Any]]


@pytest.fixture
def capped(db: None) -> Tier:
    """A tier with thumbnails and no quota yet; tests set the one they look at."""
    return Tier.objects.create(name="Capped")


@pytest.fixture
def user(make_user: Callable[..., User], capped: Tier) -> User:
    return make_user("Capped", username="capped")


@pytest.fixture
def client(user: User, client_for: Callable[[User | None], APIClient]) -> APIClient:
    return client_for(user)


def set_quota(tier: Tier, **quotas: int | None) -> None:
    for name, value in quotas.items():
        setattr(tier, name, value)
    tier.save()  # forgets the cached tier (pixtier.accounts.signals)


def stored_originals() -> list[str]:
    return [name for name in stored_files() if name.startswith("originals/")]


def test_an_upload_over_the_image_quota_is_refused_naming_it_and_the_usage(
    user: User, capped: Tier, client: APIClient, uploaded: Uploaded
) -> None:
    set_quota(capped, max_images=2)
    uploaded(user)
    uploaded(user)
    files_before = stored_files()

    response = upload(client, jpeg_bytes(320, 240))

    assert response.status_code == 403, response.content
    assert response.json() == {
        "detail": "Image quota reached: the Capped tier keeps at most 2 images and you "
        "have 2. Delete some to upload more."
    }
    assert Image.objects.filter(owner=user).count() == 2
    assert stored_files() == files_before


def test_an_upload_over_the_storage_quota_is_refused_naming_it_and_the_usage(
    user: User, capped: Tier, client: APIClient, uploaded: Uploaded
) -> None:
    first = uploaded(user, jpeg_bytes(640, 480))
    second = jpeg_bytes(800, 600)
    set_quota(capped, max_storage_bytes=first["size"] + len(second) - 1)

    response = upload(client, second)

    assert response.status_code == 403, response.content
    detail = response.json()["detail"]
    assert detail.startswith("Storage quota reached: the Capped tier keeps at most ")
    assert f"you use {first['size'] / 1024:.1f} KiB" in detail
    assert f"this file is {len(second) / 1024:.1f} KiB" in detail
    assert Image.objects.filter(owner=user).count() == 1
    assert len(stored_originals()) == 1


def test_an_upload_exactly_filling_the_storage_quota_is_accepted(
    user: User, capped: Tier, client: APIClient, uploaded: Uploaded
) -> None:
    first = uploaded(user, jpeg_bytes(640, 480))
    second = jpeg_bytes(800, 600)
    set_quota(capped, max_storage_bytes=first["size"] + len(second))

    assert upload(client, second).status_code == 201
    assert upload(client, jpeg_bytes(16, 16)).status_code == 403


def test_an_upload_over_the_tiers_size_limit_is_refused_with_413(
    user: User, capped: Tier, client: APIClient
) -> None:
    data = jpeg_bytes(640, 480)
    set_quota(capped, max_upload_bytes=1000)

    response = upload(client, data)

    assert response.status_code == 413, response.content
    assert response.json() == {
        "detail": f"The file is {len(data) / 1024:.1f} KiB; the Capped tier's upload limit "
        "is 1000 bytes."
    }
    assert not Image.objects.exists()
    assert stored_files() == []


def test_the_global_limit_still_applies_when_the_tier_allows_more(
    user: User, capped: Tier, client: APIClient, settings: Any
) -> None:
    data = jpeg_bytes(640, 480)
    set_quota(capped, max_upload_bytes=10 * 1024 * 1024)
    settings.PIXTIER_MAX_UPLOAD_BYTES = len(data) - 1  # lowered after the tier was set

    response = upload(client, data)

    assert response.status_code == 413
    assert response.json()["detail"].endswith(f"the limit is {len(data) - 1} bytes.")
    me = client.get("/api/v1/me/").json()
    assert me["tier"]["max_upload_bytes"] == len(data) - 1


def test_lowering_a_quota_deletes_nothing_and_blocks_uploads_until_back_under(
    user: User, capped: Tier, client: APIClient, uploaded: Uploaded
) -> None:
    images = [uploaded(user, jpeg_bytes(64, 48)) for _ in range(3)]

    set_quota(capped, max_images=2)

    assert Image.objects.filter(owner=user).count() == 3
    assert len(stored_originals()) == 3
    assert client.get(images[0]["url"]).status_code == 200
    assert upload(client, jpeg_bytes(64, 48)).status_code == 403
    assert client.delete(images[0]["url"]).status_code == 204
    assert upload(client, jpeg_bytes(64, 48)).status_code == 403  # 2 of 2: still at it
    assert client.delete(images[1]["url"]).status_code == 204
    assert upload(client, jpeg_bytes(64, 48)).status_code == 201


def test_me_shows_usage_next_to_the_limits(
    user: User, capped: Tier, client: APIClient, uploaded: Uploaded, make_user: Callable[..., User]
) -> None:
    set_quota(capped, max_images=10, max_storage_bytes=5_000_000, max_upload_bytes=1_000_000)
    sizes = [uploaded(user, jpeg_bytes(320, 240))["size"], uploaded(user)["size"]]
    uploaded(make_user("Capped"))  # someone else's image counts for them, not for us

    me = client.get("/api/v1/me/").json()

    assert me["usage"] == {"images": 2, "storage_bytes": sum(sizes)}
    assert me["tier"]["max_images"] == 10
    assert me["tier"]["max_storage_bytes"] == 5_000_000
    assert me["tier"]["max_upload_bytes"] == 1_000_000


def test_the_tier_list_shows_each_tiers_quotas(capped: Tier, client: APIClient) -> None:
    set_quota(capped, max_images=100, max_storage_bytes=None, max_upload_bytes=2048)

    tiers = {tier["name"]: tier for tier in client.get("/api/v1/tiers/").json()}

    assert tiers["Capped"]["max_images"] == 100
    assert tiers["Capped"]["max_storage_bytes"] is None
    assert tiers["Capped"]["max_upload_bytes"] == 2048
    assert tiers["Basic"]["max_images"] is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("quota", ["max_images", "max_storage_bytes"])
def test_concurrent_uploads_never_overshoot_a_quota(
    make_user: Callable[..., User], quota: str
) -> None:
    tier = Tier.objects.create(name="Racing")
    owner = make_user("Racing")
    data = jpeg_bytes(320, 240)
    set_quota(tier, **{quota: 3 if quota == "max_images" else 3 * len(data)})

    def send() -> int:
        client = APIClient()
        client.force_authenticate(owner)
        return int(upload(client, data).status_code)

    statuses = at_once([send] * 8)

    assert sorted(statuses) == [201] * 3 + [403] * 5
    assert Image.objects.filter(owner=owner).count() == 3
    assert len(stored_originals()) == 3
