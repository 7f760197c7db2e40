"""Links that count (SPEC 11): an optional max_downloads, the count in the link's
representation, 410 after the last allowed download, and exact counting under
concurrency."""

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.links.models import ExpiringLink
from tests.helpers import share

Clients = Callable[[User | None], APIClient]


# --- creating a counting link ------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_downloads", "status"),
    [(0, 400), (1, 201), (1_000_000, 201), (1_000_001, 400), (-1, 400), (None, 201)],
)
def test_it_accepts_a_download_limit_from_1_to_1000000(
    owner: APIClient, image: dict[str, Any], max_downloads: int | None, status: int
) -> None:
    response = owner.post(
        image["expiring_links"],
        {"expires_in": 300, "max_downloads": max_downloads},
        format="json",
    )

    assert response.status_code == status, response.content
    if status == 201:
        assert response.json()["max_downloads"] == max_downloads
        assert response.json()["downloads"] == 0
    else:
        assert response.json()["max_downloads"][0]
        assert not ExpiringLink.objects.exists()


@pytest.mark.parametrize("value", ["ten", 2.5, [3], {"n": 3}, True])
def test_it_refuses_a_download_limit_that_is_not_a_whole_number(
    owner: APIClient, image: dict[str, Any], value: Any
) -> None:
    response = owner.post(
        image["expiring_links"], {"expires_in": 300, "max_downloads": value}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["max_downloads"][0]
    assert not ExpiringLink.objects.exists()


def test_the_link_shows_its_limit_and_count_in_create_list_and_detail(
    owner: APIClient, image: dict[str, Any]
) -> None:
    created = share(owner, image, max_downloads=5)

    listed = owner.get(image["expiring_links"]).json()["results"]
    detail = owner.get(created["api_url"]).json()

    for link in (created, listed[0], detail):
        assert link["max_downloads"] == 5
        assert link["downloads"] == 0
        assert link["last_downloaded_at"] is None
