"""Access beyond the status matrix (tests/test_authorization_matrix.py holds the table of
every endpoint) and the routing checks (tests/test_routing.py): JSON errors, what a user
sees."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from tests.helpers import assert_json_error


@pytest.mark.parametrize("debug", [False, True])
def test_a_path_without_its_trailing_slash_is_json_even_with_debug_on(
    settings: Any, db: None, debug: bool
) -> None:
    settings.DEBUG = debug

    response = APIClient().post("/api/v1/images", {}, format="json")

    assert_json_error(response, 404)
    assert "/api/v1/images/" in response.json()["detail"]


def test_an_unknown_path_outside_the_api_is_a_json_404(db: None) -> None:
    assert_json_error(APIClient().get("/no-such-page/"), 404)


@pytest.mark.parametrize(
    "tier",
    [
        {"name": "Basic", "heights": [200], "original": False, "links": False},
        {"name": "Premium", "heights": [200, 400], "original": True, "links": False},
        {"name": "Enterprise", "heights": [200, 400], "original": True, "links": True},
    ],
    ids=lambda tier: tier["name"],
)
def test_me_shows_the_tier_and_what_it_allows(
    make_user: Callable[..., User],
    client_for: Callable[[User | None], APIClient],
    tier: dict[str, Any],
) -> None:
    user = make_user(tier["name"])

    me = client_for(user).get("/api/v1/me/").json()

    assert me["username"] == user.username
    assert me["tier"] == {
        "name": tier["name"],
        "thumbnail_heights": tier["heights"],
        "original_link": tier["original"],
        "expiring_links": tier["links"],
        "max_images": None,
        "max_storage_bytes": None,
        "max_upload_bytes": 20 * 1024 * 1024,
    }
    assert me["usage"] == {"images": 0, "storage_bytes": 0}


def test_me_follows_a_tier_change_at_once(
    basic_user: User, tier: Callable[[str], Any], client_for: Callable[[User | None], APIClient]
) -> None:
    client = client_for(basic_user)
    assert client.get("/api/v1/me/").json()["tier"]["name"] == "Basic"

    basic_user.tier = tier("Enterprise")
    basic_user.save()

    assert client.get("/api/v1/me/").json()["tier"]["expiring_links"] is True


UNLIMITED = {"max_images": None, "max_storage_bytes": None, "max_upload_bytes": 20 * 1024 * 1024}


def test_tiers_lists_the_three_built_in_tiers_with_their_heights(
    basic_user: User, client_for: Callable[[User | None], APIClient]
) -> None:
    response = client_for(basic_user).get("/api/v1/tiers/")

    assert response.status_code == 200
    assert sorted(response.json(), key=lambda t: t["name"]) == [
        {
            "name": "Basic",
            "thumbnail_heights": [200],
            "original_link": False,
            "expiring_links": False,
            **UNLIMITED,
        },
        {
            "name": "Enterprise",
            "thumbnail_heights": [200, 400],
            "original_link": True,
            "expiring_links": True,
            **UNLIMITED,
        },
        {
            "name": "Premium",
            "thumbnail_heights": [200, 400],
            "original_link": True,
            "expiring_links": False,
            **UNLIMITED,
        },
    ]


def test_tiers_is_read_only(
    basic_user: User, client_for: Callable[[User | None], APIClient]
) -> None:
    client = client_for(basic_user)

    response = client.post("/api/v1/tiers/", {"name": "Mine"}, format="json")

    assert_json_error(response, 405)


def test_the_api_root_lists_working_endpoints(
    enterprise_user: User, client_for: Callable[[User | None], APIClient]
) -> None:
    client = client_for(enterprise_user)

    root = client.get("/api/v1/").json()

    assert {"me", "tiers", "images", "token", "token_refresh", "schema", "docs"} <= set(root)
    for key, url in root.items():
        assert re.fullmatch(r"http://testserver/api/v1/[\w/-]*", url), (key, url)
        status = client.get(url).status_code
        assert status in (200, 405), (key, url, status)  # token endpoints only take POST
