"""Expiring links: creating them, the public download, expiry, tampering and revocation."""

import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from PIL import Image as PILImage
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.links.models import ExpiringLink
from tests.helpers import ORIGINAL, assert_no_image, body_of, jpeg_bytes, png_bytes, share

START = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)

Clients = Callable[[User | None], APIClient]


@pytest.fixture
def clock(time_machine: Any) -> Any:
    """A stopped clock at START; ``clock.shift(seconds)`` moves it."""
    time_machine.move_to(START, tick=False)
    return time_machine


def create_link(client: APIClient, image: dict[str, Any], **body: Any) -> Any:
    return client.post(image["expiring_links"], body, format="json")


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def with_token(url: str, token: str) -> str:
    return url.replace(token_of(url), token)


def other_char(ch: str) -> str:
    """A different character from the same alphabet (hex digit, digit or base64)."""
    for alphabet in ("0123456789", "0123456789abcdef"):
        if ch in alphabet:
            return alphabet[(alphabet.index(ch) + 1) % len(alphabet)]
    return "A" if ch != "A" else "B"


# --- creating a link ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "status"), [(299, 400), (300, 201), (30000, 201), (30001, 400)]
)
def test_it_accepts_lifetimes_from_300_to_30000_seconds_inclusive(
    owner: APIClient, image: dict[str, Any], expires_in: int, status: int
) -> None:
    response = create_link(owner, image, expires_in=expires_in)

    assert response.status_code == status, response.content
    if status == 400:
        assert response.json()["expires_in"][0]
        assert not ExpiringLink.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"expires_in": None},
        {"expires_in": "abc"},
        {"expires_in": 300.5},
        {"expires_in": -300},
        {"expires_in": ""},
        {"expires_in": [300]},
    ],
    ids=["missing", "null", "abc", "fraction", "negative", "empty", "list"],
)
def test_it_refuses_a_lifetime_that_is_not_a_whole_number_of_seconds(
    owner: APIClient, image: dict[str, Any], body: dict[str, Any]
) -> None:
    response = create_link(owner, image, **body)

    assert response.status_code == 400
    messages = response.json()["expires_in"]
    assert messages
    assert all(isinstance(m, str) and m for m in messages)
    assert not ExpiringLink.objects.exists()


@pytest.mark.parametrize("body", ["{not json", "[300]", '"300"'])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(
    owner: APIClient, image: dict[str, Any], body: str
) -> None:
    response = owner.post(image["expiring_links"], body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()
    assert not ExpiringLink.objects.exists()


def test_a_link_shows_what_it_serves_and_until_when(
    clock: Any, owner: APIClient, image: dict[str, Any]
) -> None:
    response = create_link(owner, image, expires_in=3600)

    assert response.status_code == 201
    link = response.json()
    assert set(link) == {
        "id",
        "url",
        "api_url",
        "height",
        "expires_at",
        "expires_in",
        "created_at",
        "max_downloads",
        "downloads",
        "last_downloaded_at",
    }
    assert (link["max_downloads"], link["downloads"], link["last_downloaded_at"]) == (None, 0, None)
    link_id = uuid.UUID(link["id"])
    assert link_id.version == 4
    assert link["height"] is None
    assert link["expires_in"] == 3600
    created_at = datetime.fromisoformat(link["created_at"])
    expires_at = datetime.fromisoformat(link["expires_at"])
    assert created_at == START
    assert expires_at == created_at + timedelta(seconds=3600)
    assert link["url"].startswith("http://testserver/")
    assert link["api_url"] == f"{image['expiring_links']}{link_id}/"
    assert response["Location"] == link["api_url"]
    assert owner.get(link["api_url"]).json() == link


def test_a_link_can_name_a_thumbnail_height_of_the_tier(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, height=400)

    assert link["height"] == 400
    response = anonymous.get(link["url"])
    assert response.status_code == 200
    served = PILImage.open(io.BytesIO(body_of(response)))
    assert (served.format, served.size) == ("JPEG", (533, 400))


@pytest.mark.parametrize("height", [100, 300, 1000])
def test_it_refuses_a_height_the_tier_lacks_and_names_the_available_ones(
    owner: APIClient, image: dict[str, Any], height: int
) -> None:
    response = create_link(owner, image, expires_in=300, height=height)

    assert response.status_code == 400
    [message] = response.json()["height"]
    assert str(height) in message
    assert "200, 400" in message
    assert not ExpiringLink.objects.exists()


@pytest.mark.parametrize("height", [0, -200, "abc", 200.5])
def test_it_refuses_a_height_that_is_not_a_positive_whole_number(
    owner: APIClient, image: dict[str, Any], height: Any
) -> None:
    response = create_link(owner, image, expires_in=300, height=height)

    assert response.status_code == 400
    assert response.json()["height"]


# --- the public download -----------------------------------------------------------------


def test_anyone_with_the_url_gets_the_original_without_signing_in(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image)

    response = anonymous.get(link["url"])

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert body_of(response) == ORIGINAL
    assert response["Content-Length"] == str(len(ORIGINAL))


def test_the_download_ignores_a_bad_bearer_token(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image)

    response = anonymous.get(link["url"], HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 200
    assert body_of(response) == ORIGINAL


def test_a_link_to_the_original_serves_byte_ranges(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image)

    response = anonymous.get(link["url"], HTTP_RANGE="bytes=0-9")

    assert response.status_code == 206
    assert body_of(response) == ORIGINAL[:10]
    assert response["Content-Range"] == f"bytes 0-9/{len(ORIGINAL)}"


def test_a_png_is_served_as_a_png(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    owner: APIClient,
    anonymous: APIClient,
) -> None:
    data = png_bytes(300, 200)
    image = uploaded(enterprise_user, data, name="drawing.png", content_type="image/png")
    link = share(owner, image)

    response = anonymous.get(link["url"])

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert body_of(response) == data


def test_a_link_works_until_one_second_before_it_expires(
    clock: Any, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, expires_in=300)

    clock.shift(299)
    response = anonymous.get(link["url"])

    assert response.status_code == 200
    assert body_of(response) == ORIGINAL
    cache_control = response["Cache-Control"]
    assert "max-age=1" in cache_control.replace(" ", "").split(",")


@pytest.mark.parametrize("after", [300, 301, 30_000])
def test_an_expired_link_is_gone_and_never_serves_the_bytes(
    clock: Any, owner: APIClient, anonymous: APIClient, image: dict[str, Any], after: int
) -> None:
    link = share(owner, image, expires_in=300)

    clock.shift(after)

    response = anonymous.get(link["url"])
    assert_no_image(response, 410)
    assert "expired" in response.json()["detail"]
    # The owner's session changes nothing for the public URL.
    assert_no_image(owner.get(link["url"]), 410)


def test_an_expired_thumbnail_link_is_gone_too(
    clock: Any, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, expires_in=300, height=200)
    assert anonymous.get(link["url"]).status_code == 200

    clock.shift(300)

    assert_no_image(anonymous.get(link["url"]), 410)


def test_an_expired_link_disappears_from_the_api(
    clock: Any, owner: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, expires_in=300)

    clock.shift(300)

    assert_no_image(owner.get(link["api_url"]), 404)
    assert owner.get(image["expiring_links"]).json()["results"] == []


# --- tampering ---------------------------------------------------------------------------


@pytest.mark.parametrize("part", ["link id", "expiry", "signature"])
@pytest.mark.parametrize("position", [0, -1])
def test_a_url_with_one_character_changed_is_not_found(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any], part: str, position: int
) -> None:
    link = share(owner, image, expires_in=30000)
    parts = token_of(link["url"]).split(".")
    assert len(parts) == 3, "token layout: <link id>.<expiry>.<signature>"
    index = ["link id", "expiry", "signature"].index(part)
    chars = list(parts[index])
    chars[position] = other_char(chars[position])
    parts[index] = "".join(chars)

    response = anonymous.get(with_token(link["url"], ".".join(parts)))

    assert_no_image(response, 404)
    assert anonymous.get(link["url"]).status_code == 200  # the real one still works


def test_links_signed_with_a_key_taken_out_of_service_stop_working(
    settings: Any, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, expires_in=30000)
    assert anonymous.get(link["url"]).status_code == 200  # its signature checked once

    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = old_key + "-rotated"
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert anonymous.get(link["url"]).status_code == 200  # still accepted as a fallback
    settings.SECRET_KEY_FALLBACKS = []

    assert_no_image(anonymous.get(link["url"]), 404)


@pytest.mark.parametrize(
    "token", ["x", "a.b", "a.b.c", "..", "not-a-token-at-all.0.AAAA", "%00", "😀", "a" * 5000]
)
def test_a_made_up_token_is_not_found(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any], token: str
) -> None:
    link = share(owner, image)

    assert_no_image(anonymous.get(with_token(link["url"], token)), 404)


def test_a_short_link_cannot_be_stretched_by_editing_its_expiry(
    clock: Any, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    short = share(owner, image, expires_in=300)
    long = share(owner, image, expires_in=30000)
    link_id, _, signature = token_of(short["url"]).split(".")
    _, long_expiry, _ = token_of(long["url"]).split(".")
    stretched = with_token(short["url"], f"{link_id}.{long_expiry}.{signature}")

    assert_no_image(anonymous.get(stretched), 404)
    clock.shift(300)
    assert_no_image(anonymous.get(stretched), 404)
    assert_no_image(anonymous.get(short["url"]), 410)


def test_a_token_for_one_link_cannot_be_pointed_at_another_image(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    owner: APIClient,
    anonymous: APIClient,
    image: dict[str, Any],
) -> None:
    secret = jpeg_bytes(320, 240)
    other_image = uploaded(enterprise_user, secret)
    shared = share(owner, image, expires_in=300)
    # A revoked link to the other image: its id is known to whoever once held it.
    other = share(owner, other_image, expires_in=300)
    assert owner.delete(other["api_url"]).status_code == 204
    _, expiry, signature = token_of(shared["url"]).split(".")
    other_id, other_expiry, _ = token_of(other["url"]).split(".")

    for token in (
        f"{other_id}.{expiry}.{signature}",
        f"{other_id}.{other_expiry}.{signature}",
        f"{uuid.UUID(other_image['id']).hex}.{expiry}.{signature}",
    ):
        response = anonymous.get(with_token(shared["url"], token))
        assert_no_image(response, 404)
        assert secret[:64] not in body_of(response)


# --- revocation and listing --------------------------------------------------------------


def test_a_revoked_link_is_dead_at_once(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, expires_in=30000)
    kept = share(owner, image, expires_in=30000)
    assert anonymous.get(link["url"]).status_code == 200

    response = owner.delete(link["api_url"])

    assert response.status_code == 204
    assert response.content == b""
    assert_no_image(anonymous.get(link["url"]), 410)
    assert_no_image(owner.get(link["api_url"]), 404)
    assert_no_image(owner.delete(link["api_url"]), 404)
    listed = owner.get(image["expiring_links"]).json()["results"]
    assert [item["id"] for item in listed] == [kept["id"]]
    assert anonymous.get(kept["url"]).status_code == 200


def test_the_list_shows_only_links_that_still_work_newest_first(
    clock: Any, owner: APIClient, image: dict[str, Any]
) -> None:
    expiring = share(owner, image, expires_in=300)
    clock.shift(1)
    lasting = share(owner, image, expires_in=3000)
    clock.shift(1)
    revoked = share(owner, image, expires_in=3000)
    owner.delete(revoked["api_url"])
    clock.shift(1)
    newest = share(owner, image, expires_in=3000, height=200)

    before = owner.get(image["expiring_links"]).json()["results"]
    clock.shift(300)
    after = owner.get(image["expiring_links"]).json()["results"]

    assert [item["id"] for item in before] == [newest["id"], lasting["id"], expiring["id"]]
    assert before[0] == newest
    assert [item["id"] for item in after] == [newest["id"], lasting["id"]]


def test_the_list_is_paginated(clock: Any, owner: APIClient, image: dict[str, Any]) -> None:
    created = []
    for _ in range(5):
        created.append(share(owner, image)["id"])
        clock.shift(1)

    first = owner.get(image["expiring_links"], {"page_size": 2}).json()
    assert set(first) == {"next", "previous", "results"}
    assert first["previous"] is None
    pages, seen, url = 0, [], image["expiring_links"] + "?page_size=2"
    while url:
        page = owner.get(url).json()
        seen += [item["id"] for item in page["results"]]
        url, pages = page["next"], pages + 1
        if url:
            assert page["next"].startswith("http://testserver/")

    assert pages == 3
    assert seen == created[::-1]


def test_the_list_only_shows_links_of_that_image(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    owner: APIClient,
    image: dict[str, Any],
) -> None:
    other_image = uploaded(enterprise_user)
    mine = share(owner, image)
    other = share(owner, other_image)

    listed = owner.get(image["expiring_links"]).json()["results"]

    assert [item["id"] for item in listed] == [mine["id"]]
    # Nor can a link be reached through another image's URL.
    wrong = f"{image['expiring_links']}{other['id']}/"
    assert_no_image(owner.get(wrong), 404)
    assert_no_image(owner.delete(wrong), 404)
    assert owner.get(other["api_url"]).status_code == 200


def test_deleting_the_image_kills_its_links(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image)

    assert owner.delete(image["url"]).status_code == 204

    response = anonymous.get(link["url"])
    assert response.status_code in (404, 410)
    assert_no_image(response, response.status_code)


# --- purging -----------------------------------------------------------------------------


def test_expiry_is_enforced_before_the_purge_and_the_purge_deletes_expired_records(
    clock: Any, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    expired = share(owner, image, expires_in=300)
    alive = share(owner, image, expires_in=3000)
    clock.shift(300)

    assert ExpiringLink.objects.filter(pk=expired["id"]).exists()
    assert_no_image(anonymous.get(expired["url"]), 410)

    out = io.StringIO()
    call_command("purge_expired_links", stdout=out)

    assert "1" in out.getvalue()
    assert list(ExpiringLink.objects.values_list("id", flat=True)) == [uuid.UUID(alive["id"])]
    assert_no_image(anonymous.get(expired["url"]), 410)
    assert body_of(anonymous.get(alive["url"])) == ORIGINAL


def test_the_purge_keeps_links_that_still_work(
    clock: Any, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, expires_in=300)
    clock.shift(299)

    call_command("purge_expired_links", stdout=io.StringIO())

    assert ExpiringLink.objects.count() == 1
    assert anonymous.get(link["url"]).status_code == 200


# --- tiers -------------------------------------------------------------------------------


@pytest.mark.parametrize("tier_name", ["Basic", "Premium"])
def test_tiers_without_expiring_links_can_neither_list_nor_create_them(
    make_user: Callable[..., User],
    uploaded: Callable[..., dict[str, Any]],
    client_for: Clients,
    tier_name: str,
) -> None:
    user = make_user(tier_name)
    image = uploaded(user)
    client = client_for(user)
    assert image["expiring_links"] is None
    links_url = f"{image['url']}expiring-links/"

    listed = client.get(links_url)
    created = client.post(links_url, {"expires_in": 300}, format="json")

    assert_no_image(listed, 403)
    assert_no_image(created, 403)
    assert "expiring links" in created.json()["detail"]
    assert not ExpiringLink.objects.exists()


def test_a_tier_without_the_original_can_share_only_thumbnails(
    make_user: Callable[..., User],
    custom_tier: Any,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Clients,
    anonymous: APIClient,
) -> None:
    user = make_user(custom_tier.name)
    client = client_for(user)
    image = uploaded(user, ORIGINAL)

    to_original = create_link(client, image, expires_in=300)
    to_missing_height = create_link(client, image, expires_in=300, height=200)
    to_thumbnail = create_link(client, image, expires_in=300, height=300)

    assert_no_image(to_original, 403)
    assert "original" in to_original.json()["detail"]
    assert to_missing_height.status_code == 400
    assert "100, 300" in to_missing_height.json()["height"][0]
    assert to_thumbnail.status_code == 201
    served = anonymous.get(to_thumbnail.json()["url"])
    assert served.status_code == 200
    assert PILImage.open(io.BytesIO(body_of(served))).size == (400, 300)
    assert ExpiringLink.objects.count() == 1


def test_a_link_stops_serving_when_the_owners_tier_loses_expiring_links(
    enterprise_user: User,
    tier: Callable[[str], Any],
    owner: APIClient,
    anonymous: APIClient,
    image: dict[str, Any],
) -> None:
    link = share(owner, image, expires_in=30000)

    enterprise_user.tier = tier("Premium")
    enterprise_user.save()

    response = anonymous.get(link["url"])
    assert response.status_code in (403, 404, 410)
    assert_no_image(response, response.status_code)


def test_a_thumbnail_link_stops_serving_when_its_height_leaves_the_tier(
    tier: Callable[[str], Any], owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, expires_in=30000, height=400)
    assert anonymous.get(link["url"]).status_code == 200

    tier("Enterprise").sizes.filter(height=400).delete()

    response = anonymous.get(link["url"])
    assert response.status_code in (403, 404, 410)
    assert_no_image(response, response.status_code)


def test_a_link_dies_when_its_owner_is_deactivated(
    enterprise_user: User, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image)
    enterprise_user.is_active = False
    enterprise_user.save()

    response = anonymous.get(link["url"])

    assert response.status_code == 410
    assert "closed" in response.json()["detail"]


def test_links_made_on_an_earlier_tier_can_still_be_revoked_for_good(
    enterprise_user: User,
    tier: Callable[[str], Any],
    owner: APIClient,
    anonymous: APIClient,
    image: dict[str, Any],
) -> None:
    link = share(owner, image, expires_in=30000)
    enterprise_user.tier = tier("Premium")
    enterprise_user.save()

    assert owner.delete(link["api_url"]).status_code == 204

    enterprise_user.tier = tier("Enterprise")
    enterprise_user.save()
    assert anonymous.get(link["url"]).status_code == 410
