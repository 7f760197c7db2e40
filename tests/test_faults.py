"""Faults inside one process: the shared cache unreachable (a Redis client pointed at a
port nobody listens on, so the real client fails as it does when Redis is down), and an
expiring link that runs out while its download is being served.

The same faults with real processes (gunicorn, workers, Redis, SeaweedFS, PostgreSQL) are
in tests/integration/test_faults.py.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import transaction
from redis.exceptions import RedisError
from rest_framework.test import APIClient

import pixtier.common.cache
from pixtier.accounts.models import ThumbnailSize, Tier
from pixtier.links.models import ExpiringLink
from tests.helpers import ORIGINAL, assert_no_image, body_of, share

START = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def caching(settings: Any) -> None:
    """Tier capabilities and downloads cached, as they are with Redis."""
    settings.PIXTIER_TIER_CACHE_SECONDS = 300
    settings.PIXTIER_DOWNLOAD_CACHE_SECONDS = 300


def test_reads_come_from_the_database_while_the_cache_is_down(
    owner: APIClient,
    anonymous: APIClient,
    image: dict[str, Any],
    take_cache_down: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    link = share(owner, image, expires_in=30000, height=200)
    take_cache_down()

    with caplog.at_level(logging.WARNING, "pixtier.common.breaker"):
        me = owner.get("/api/v1/me/")
        assert me.status_code == 200
        assert me.json()["tier"]["name"] == "Enterprise"
        assert owner.get("/api/v1/images/").json()["results"][0]["id"] == image["id"]
        assert owner.get(image["url"]).status_code == 200
        assert body_of(owner.get(image["original"])) == ORIGINAL
        for entry in image["thumbnails"]:
            assert owner.get(entry["url"]).status_code == 200
        for _ in range(2):
            assert anonymous.get(link["url"]).status_code == 200
        assert share(owner, image, expires_in=300)["url"]

    assert "cache unavailable" in caplog.text


def test_a_revocation_that_cannot_reach_the_cache_is_not_made(
    settings: Any,
    owner: APIClient,
    anonymous: APIClient,
    image: dict[str, Any],
    take_cache_down: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Made, it would leave the cached download alive wherever the cache still answers
    (or once it answers again with its data): the owner is told to retry instead."""
    link = share(owner, image, expires_in=30000)
    assert anonymous.get(link["url"]).status_code == 200  # cached now
    caches = settings.CACHES
    take_cache_down()

    response = owner.delete(link["api_url"])

    assert response.status_code == 503
    assert response.json() == {"detail": "The cache is unavailable; try again shortly."}
    assert response["Retry-After"]
    assert ExpiringLink.objects.get(pk=link["id"]).revoked_at is None

    settings.CACHES = caches  # back, with the download still cached
    pixtier.common.cache.breaker.reset()
    assert owner.delete(link["api_url"]).status_code == 204
    assert_no_image(anonymous.get(link["url"]), 410)


def test_a_tier_change_that_cannot_reach_the_cache_rolls_back(
    tier: Callable[[str], Tier], take_cache_down: Callable[[], None]
) -> None:
    """As the admin's change form saves it: in a transaction."""
    premium = tier("Premium")
    take_cache_down()

    with pytest.raises(RedisError), transaction.atomic():
        ThumbnailSize.objects.get(tier=premium, height=400).delete()

    assert sorted(premium.sizes.values_list("height", flat=True)) == [200, 400]


def test_a_link_expiring_during_its_download_is_judged_at_request_start(
    time_machine: Any,
    owner: APIClient,
    anonymous: APIClient,
    image: dict[str, Any],
    storage: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    time_machine.move_to(START, tick=False)
    link = share(owner, image, expires_in=300)
    time_machine.shift(299)  # one second left

    # A storage read that takes ten seconds cannot be had from the real backends here;
    # this wraps the real read and moves the clock past the link's end while it runs.
    real_open = type(storage).open

    def slow_open(self: Any, name: str, mode: str = "rb") -> Any:
        time_machine.shift(10)
        return real_open(self, name, mode)

    monkeypatch.setattr(type(storage), "open", slow_open)
    response = anonymous.get(link["url"])

    # Allowed at request start, so served whole; caches may keep it only for the second
    # that was left then.
    assert response.status_code == 200
    assert body_of(response) == ORIGINAL
    assert "max-age=1" in response["Cache-Control"].replace(" ", "").split(",")
    # The next request starts after the end.
    assert_no_image(anonymous.get(link["url"]), 410)
