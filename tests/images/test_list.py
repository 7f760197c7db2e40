"""The caller's images: listed newest first with cursor pagination, and deleted with
everything made from them."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.images.models import Image, Thumbnail
from pixtier.links.models import ExpiringLink
from tests.helpers import jpeg_bytes, png_bytes, stored_files

LIST = "/api/v1/images/"
# Measured: GET /api/v1/images/ with a force-authenticated client makes 2 queries, the
# page of images and the owner's tier capabilities, whether it lists 1 image or 30 (a
# JWT bearer adds 1 for the user, a session 2). Nothing per image.
LIST_QUERIES = 2


START = datetime(2030, 1, 1, tzinfo=UTC)


def make_images(
    owner: User, count: int, *, start: datetime = START, same_moment: bool = False
) -> list[str]:
    """Image rows (no files: listing never reads them), newest last; returns their ids."""
    images = Image.objects.bulk_create(
        Image(
            owner=owner,
            title=f"image {n}",
            original_key=f"originals/none/{n}.jpg",
            width=800,
            height=600,
            content_type="image/jpeg",
            size=1000,
            sha256="0" * 64,
        )
        for n in range(count)
    )
    if same_moment:
        Image.objects.filter(pk__in=[i.pk for i in images]).update(uploaded_at=start)
    else:
        for n, image in enumerate(images):
            Image.objects.filter(pk=image.pk).update(uploaded_at=start + timedelta(seconds=n))
    return [str(image.pk) for image in images]


def walk(client: APIClient, url: str | None, direction: str = "next") -> list[list[str]]:
    """The ids on each page, following ``direction`` links until there are none."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([image["id"] for image in body["results"]])
        url = body[direction]
    return pages


def test_images_are_listed_newest_first(
    premium_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
) -> None:
    for title in ("first", "second", "third"):
        uploaded(premium_user, title=title)

    body = client_for(premium_user).get(LIST).json()

    assert set(body) >= {"next", "previous", "results"}
    assert [image["title"] for image in body["results"]] == ["third", "second", "first"]
    assert body["next"] is None
    assert body["previous"] is None


def test_a_listed_image_has_the_same_representation_as_its_detail(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
) -> None:
    image = uploaded(enterprise_user, png_bytes(300, 200), name="a.png", content_type="image/png")
    client = client_for(enterprise_user)

    [listed] = client.get(LIST).json()["results"]

    assert listed == client.get(image["url"]).json() == image
    assert [t["height"] for t in listed["thumbnails"]] == [200, 400]


def test_only_the_callers_images_are_listed(
    basic_user: User,
    stranger: User,
    client_for: Callable[[User | None], APIClient],
) -> None:
    mine = make_images(basic_user, 2)
    make_images(stranger, 3)

    body = client_for(basic_user).get(LIST).json()

    assert sorted(image["id"] for image in body["results"]) == sorted(mine)


def test_listing_needs_authentication(client_for: Callable[[User | None], APIClient]) -> None:
    response = client_for(None).get(LIST)

    assert response.status_code == 401
    assert "detail" in response.json()


def test_pages_walk_through_every_image_once_in_both_directions(
    basic_user: User, client_for: Callable[[User | None], APIClient]
) -> None:
    ids = make_images(basic_user, 7)
    client = client_for(basic_user)

    forward = walk(client, f"{LIST}?page_size=3")

    assert [len(page) for page in forward] == [3, 3, 1]
    assert [image_id for page in forward for image_id in page] == ids[::-1]
    last_page = client.get(f"{LIST}?page_size=3").json()
    while last_page["next"]:
        last_page = client.get(last_page["next"]).json()
    backward = walk(client, last_page["previous"], "previous")
    assert backward == forward[-2::-1]


def test_images_uploaded_at_the_same_moment_are_each_listed_once(
    basic_user: User, client_for: Callable[[User | None], APIClient]
) -> None:
    # Going forward only: DRF's cursor is keyed on uploaded_at, and walking *back* across
    # a tie wider than a page is a documented DRF artifact (ties need equal microseconds).
    ids = make_images(basic_user, 7, same_moment=True)

    forward = walk(client_for(basic_user), f"{LIST}?page_size=3")

    assert [len(page) for page in forward] == [3, 3, 1]
    assert sorted(image_id for page in forward for image_id in page) == sorted(ids)


def test_new_uploads_do_not_shift_the_pages_being_walked(
    basic_user: User, client_for: Callable[[User | None], APIClient]
) -> None:
    ids = make_images(basic_user, 4)
    client = client_for(basic_user)
    first = client.get(f"{LIST}?page_size=2").json()

    make_images(basic_user, 1, start=START + timedelta(days=1))  # uploaded meanwhile
    second = client.get(first["next"]).json()

    assert [image["id"] for image in second["results"]] == ids[1::-1]


@pytest.mark.parametrize(
    ("asked", "served"),
    [("1", 1), ("100", 100), ("101", 100), ("1000", 100)],
)
def test_page_size_is_respected_and_capped_at_100(
    basic_user: User, client_for: Callable[[User | None], APIClient], asked: str, served: int
) -> None:
    make_images(basic_user, 105, same_moment=True)

    response = client_for(basic_user).get(LIST, {"page_size": asked})

    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == served
    assert body["next"] is not None


@pytest.mark.parametrize("asked", ["0", "-5", "many", "2.5", "", " 3", "1_000", "٣"])
def test_a_page_size_that_is_not_a_whole_number_of_1_or_more_is_a_bad_request(
    basic_user: User, client_for: Callable[[User | None], APIClient], asked: str
) -> None:
    response = client_for(basic_user).get(LIST, {"page_size": asked})

    assert response.status_code == 400
    assert response.json() == {"page_size": ["Send a whole number of 1 or more (at most 100)."]}


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "cD0yMDI2",  # base64 of "p=2026": well-formed, but not a position in time
        "cj0xJnA9NDg3",  # DRF's documentation example
    ],
)
def test_a_tampered_cursor_is_a_400_not_a_500(
    basic_user: User, client_for: Callable[[User | None], APIClient], cursor: str
) -> None:
    response = client_for(basic_user).get(LIST, {"cursor": cursor})

    assert response.status_code == 400
    assert "not valid" in response.json()["cursor"][0]


@pytest.mark.parametrize("count", [1, 30])
def test_listing_costs_the_same_number_of_queries_however_many_images(
    enterprise_user: User,
    client_for: Callable[[User | None], APIClient],
    django_assert_num_queries: Any,
    count: int,
) -> None:
    make_images(enterprise_user, count)
    client = client_for(enterprise_user)

    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(LIST, {"page_size": 100})

    assert len(response.json()["results"]) == count


# --- Delete -----------------------------------------------------------------------------


def test_deleting_an_image_removes_its_files_thumbnails_and_links(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for(enterprise_user)
    image = uploaded(enterprise_user, jpeg_bytes(800, 600))
    kept = uploaded(enterprise_user, jpeg_bytes(300, 300))
    for entry in image["thumbnails"] + kept["thumbnails"]:
        assert client.get(entry["url"]).status_code == 200
    link = client.post(image["expiring_links"], {"expires_in": 600}, format="json").json()
    kept_files = [name for name in stored_files() if kept["id"].replace("-", "") in name]
    assert len(kept_files) == 3  # original and two thumbnails
    assert len(stored_files()) == 6

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(image["url"])

    assert response.status_code == 204
    assert stored_files() == kept_files
    assert not Image.objects.filter(pk=image["id"]).exists()
    assert not Thumbnail.objects.filter(image_id=image["id"]).exists()
    assert not ExpiringLink.objects.filter(image_id=image["id"]).exists()
    assert client.get(image["url"]).status_code == 404
    assert client.get(image["original"]).status_code == 404
    for entry in image["thumbnails"]:
        assert client.get(entry["url"]).status_code == 404
    assert client_for(None).get(link["url"]).status_code in (404, 410)
    assert [i["id"] for i in client.get(LIST).json()["results"]] == [kept["id"]]


def test_deleting_an_image_removes_the_original_and_the_thumbnails_made_at_upload(
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    django_capture_on_commit_callbacks: Any,
) -> None:
    image = uploaded(basic_user)
    assert len(stored_files("originals")) == len(stored_files("thumbnails")) == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(basic_user).delete(image["url"]).status_code == 204

    assert stored_files() == []


def test_someone_elses_image_cannot_be_deleted(
    basic_user: User,
    stranger: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    django_capture_on_commit_callbacks: Any,
) -> None:
    image = uploaded(basic_user)
    before = stored_files()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(stranger).delete(image["url"])

    assert response.status_code == 404
    assert stored_files() == before
    assert client_for(basic_user).get(image["url"]).status_code == 200
