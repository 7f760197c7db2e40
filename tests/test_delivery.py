"""Serving bytes: validators and 304s, byte ranges, and Cache-Control that never
outlives the link, for owner links and expiring links alike."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.utils.http import http_date, parse_http_date
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.delivery import RangeNotSatisfiable, parse_range
from pixtier.images.models import Image, Thumbnail
from tests.helpers import ORIGINAL, png_bytes, share

SIZE = len(ORIGINAL)


def max_age(response: Any) -> int:
    match = re.search(r"max-age=(\d+)", response["Cache-Control"])
    assert match, response["Cache-Control"]
    return int(match.group(1))


# --- Validators and bodies ------------------------------------------------------------


def test_the_original_is_served_with_type_length_and_validators(
    owner: APIClient, image: dict[str, Any]
) -> None:
    response = owner.get(image["original"])

    assert response.status_code == 200
    body = response.getvalue()
    assert body == ORIGINAL
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Length"] == str(len(body))
    assert re.fullmatch(r'"[0-9a-f]+"', response["ETag"])
    uploaded_at = Image.objects.get(pk=image["id"]).uploaded_at
    assert parse_http_date(response["Last-Modified"]) == int(uploaded_at.timestamp())
    assert response["Accept-Ranges"] == "bytes"


def test_a_thumbnail_is_served_with_type_length_and_its_own_validators(
    owner: APIClient, image: dict[str, Any]
) -> None:
    original = owner.get(image["original"])
    response = owner.get(image["thumbnails"][0]["url"])

    assert response.status_code == 200
    body = response.getvalue()
    assert body[:2] == b"\xff\xd8"
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Length"] == str(len(body))
    assert response["ETag"] != original["ETag"]
    made_at = Thumbnail.objects.get(image_id=image["id"], height=200).created_at
    assert made_at is not None
    assert parse_http_date(response["Last-Modified"]) == int(made_at.timestamp())


def test_a_png_is_served_as_png(
    owner: APIClient, enterprise_user: User, uploaded: Callable[..., dict[str, Any]]
) -> None:
    image = uploaded(enterprise_user, png_bytes(300, 200), name="a.png", content_type="image/png")

    for url in (image["original"], image["thumbnails"][0]["url"]):
        response = owner.get(url)
        assert response["Content-Type"] == "image/png"
        assert response.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("which", ["original", "thumbnail"])
def test_if_none_match_answers_304_without_a_body(
    owner: APIClient, image: dict[str, Any], which: str
) -> None:
    url = image["original"] if which == "original" else image["thumbnails"][0]["url"]
    first = owner.get(url)

    again = owner.get(url, HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304
    assert again.getvalue() == b""
    assert again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == first["Cache-Control"]
    # Weak comparison, and a list of candidates, as browsers and proxies send them.
    assert owner.get(url, HTTP_IF_NONE_MATCH=f"W/{first['ETag']}").status_code == 304
    assert owner.get(url, HTTP_IF_NONE_MATCH=f'"other", {first["ETag"]}').status_code == 304


def test_a_stale_etag_gets_the_full_bytes(owner: APIClient, image: dict[str, Any]) -> None:
    response = owner.get(image["original"], HTTP_IF_NONE_MATCH='"not-this-one"')

    assert response.status_code == 200
    assert response.getvalue() == ORIGINAL


def test_the_original_etag_does_not_validate_a_thumbnail(
    owner: APIClient, image: dict[str, Any]
) -> None:
    etag = owner.get(image["original"])["ETag"]

    assert owner.get(image["thumbnails"][0]["url"], HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_if_modified_since_answers_304_until_the_file_is_newer(
    owner: APIClient, image: dict[str, Any]
) -> None:
    last_modified = owner.get(image["original"])["Last-Modified"]
    earlier = http_date(parse_http_date(last_modified) - 3600)

    not_modified = owner.get(image["original"], HTTP_IF_MODIFIED_SINCE=last_modified)
    modified = owner.get(image["original"], HTTP_IF_MODIFIED_SINCE=earlier)

    assert not_modified.status_code == 304
    assert not_modified.getvalue() == b""
    assert "ETag" in not_modified
    assert modified.status_code == 200
    assert modified.getvalue() == ORIGINAL


def test_head_sends_the_headers_without_the_bytes(owner: APIClient, image: dict[str, Any]) -> None:
    get = owner.get(image["original"])
    head = owner.head(image["original"])

    assert head.status_code == 200
    assert head.getvalue() == b""
    for header in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control"):
        assert head[header] == get[header]
    assert head["Content-Length"] == str(SIZE)


# --- Byte ranges ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=-10", SIZE - 10, SIZE - 1),
        ("bytes=10-", 10, SIZE - 1),
        (f"bytes=100-{SIZE + 1000}", 100, SIZE - 1),
        (f"bytes=-{SIZE + 1000}", 0, SIZE - 1),
        (f"bytes=0-{'9' * 5000}", 0, SIZE - 1),
    ],
)
def test_a_range_of_the_original_answers_206_with_exactly_those_bytes(
    owner: APIClient, image: dict[str, Any], header: str, start: int, end: int
) -> None:
    response = owner.get(image["original"], HTTP_RANGE=header)

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    body = response.getvalue()
    assert body == ORIGINAL[start : end + 1]
    assert response["Content-Length"] == str(len(body))
    assert response["Content-Type"] == "image/jpeg"
    assert "ETag" in response


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={SIZE}-",
        f"bytes={SIZE + 5}-{SIZE + 10}",
        "bytes=-0",
        f"bytes={'9' * 5000}-",  # more digits than Python will parse at once
    ],
)
def test_an_unsatisfiable_range_answers_416_with_the_size(
    owner: APIClient, image: dict[str, Any], header: str
) -> None:
    response = owner.get(image["original"], HTTP_RANGE=header)

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"
    assert str(SIZE) in response.json()["detail"]


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-9,20-29",  # several ranges: the whole file is a valid answer
        "bytes=9-0",  # invalid: ignored
        "items=0-9",
        "bytes=zero-nine",
    ],
)
def test_a_range_we_do_not_serve_gets_the_whole_file(
    owner: APIClient, image: dict[str, Any], header: str
) -> None:
    response = owner.get(image["original"], HTTP_RANGE=header)

    assert response.status_code == 200
    assert response.getvalue() == ORIGINAL
    assert response["Content-Length"] == str(SIZE)


def test_if_range_with_the_current_etag_gets_the_range(
    owner: APIClient, image: dict[str, Any]
) -> None:
    etag = owner.get(image["original"])["ETag"]

    response = owner.get(image["original"], HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)

    assert response.status_code == 206
    assert response.getvalue() == ORIGINAL[:10]


@pytest.mark.parametrize("if_range", ['"an-old-version"', "Tue, 01 Jan 2019 00:00:00 GMT"])
def test_if_range_that_does_not_match_gets_the_whole_file(
    owner: APIClient, image: dict[str, Any], if_range: str
) -> None:
    response = owner.get(image["original"], HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=if_range)

    assert response.status_code == 200
    assert response.getvalue() == ORIGINAL


def test_thumbnails_are_served_whole_even_when_a_range_is_asked(
    owner: APIClient, image: dict[str, Any]
) -> None:
    whole = owner.get(image["thumbnails"][0]["url"]).getvalue()

    response = owner.get(image["thumbnails"][0]["url"], HTTP_RANGE="bytes=0-9")

    assert response.status_code == 200
    assert response.getvalue() == whole


# --- Cache-Control --------------------------------------------------------------------


@pytest.mark.parametrize("which", ["original", "thumbnail"])
def test_owner_links_are_never_cached_publicly(
    owner: APIClient, image: dict[str, Any], which: str
) -> None:
    url = image["original"] if which == "original" else image["thumbnails"][0]["url"]

    cache_control = owner.get(url)["Cache-Control"]

    directives = {d.strip().split("=")[0] for d in cache_control.split(",")}
    assert "private" in directives
    assert not directives & {"public", "s-maxage"}


def test_an_expiring_link_serves_the_original_with_validators_and_ranges(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any], time_machine: Any
) -> None:
    # The clock stands still: the 304 must repeat the 200's lifetime, not a second less.
    time_machine.move_to(datetime.now(UTC), tick=False)
    link = share(owner, image, expires_in=600)

    full = anonymous.get(link["url"])
    assert full.status_code == 200
    assert full.getvalue() == ORIGINAL
    assert full["Content-Type"] == "image/jpeg"
    assert full["Content-Length"] == str(SIZE)
    assert "Last-Modified" in full

    not_modified = anonymous.get(link["url"], HTTP_IF_NONE_MATCH=full["ETag"])
    assert not_modified.status_code == 304
    assert not_modified.getvalue() == b""
    assert not_modified["Cache-Control"] == full["Cache-Control"]
    assert not_modified["Expires"] == full["Expires"]

    part = anonymous.get(link["url"], HTTP_RANGE="bytes=-10")
    assert part.status_code == 206
    assert part.getvalue() == ORIGINAL[-10:]
    assert part["Content-Range"] == f"bytes {SIZE - 10}-{SIZE - 1}/{SIZE}"

    head = anonymous.head(link["url"])
    assert head.status_code == 200
    assert head.getvalue() == b""
    assert head["Content-Length"] == str(SIZE)


def test_an_expiring_link_to_a_thumbnail_serves_the_thumbnail(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, height=200, expires_in=600)

    response = anonymous.get(link["url"])

    assert response.status_code == 200
    body = response.getvalue()
    assert body == owner.get(image["thumbnails"][0]["url"]).getvalue()
    assert response["Content-Length"] == str(len(body))


@pytest.mark.parametrize("elapsed", [0, 200, 299])
def test_an_expiring_link_is_never_cached_beyond_its_expiry(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any], elapsed: int
) -> None:
    start = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        link = share(owner, image, expires_in=300)
    expires_at = datetime.fromisoformat(link["expires_at"])

    with time_machine.travel(start + timedelta(seconds=elapsed), tick=False):
        response = anonymous.get(link["url"])

    assert response.status_code == 200
    remaining = 300 - elapsed
    assert 0 <= max_age(response) <= remaining
    assert "public" not in response["Cache-Control"]
    assert parse_http_date(response["Expires"]) <= int(expires_at.timestamp())


# --- parse_range, directly --------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-0", 1, (0, 0)),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=-1", 100, (99, 99)),
        ("bytes=-500", 100, (0, 99)),
        ("bytes=50-5000", 100, (50, 99)),
        (" bytes=1-2 ", 100, (1, 2)),
        ("bytes=-", 100, None),
        ("bytes=5-4", 100, None),
        ("bytes=0-1,3-4", 100, None),
        ("bytes=0-1, 3-4", 100, None),
        ("bytes 0-1", 100, None),
        ("", 100, None),
        (f"bytes=0-{'1' * 5000}", 100, (0, 99)),
        (f"bytes=-{'1' * 5000}", 100, (0, 99)),
        (f"bytes={'0' * 5000}7-8", 100, (7, 8)),
        ("bytes=150-120", 100, None),
        ("bytes=-5", 0, None),
    ],
)
def test_parse_range_examples(header: str, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=100-", 100), ("bytes=100-100", 100), ("bytes=-0", 100), (f"bytes={'1' * 5000}-", 100)],
)
def test_parse_range_refuses_what_cannot_be_satisfied(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


@given(size=st.integers(min_value=1, max_value=10**12), first=st.integers(0, 10**13))
def test_parse_range_from_an_offset_is_the_rest_of_the_file(size: int, first: int) -> None:
    if first >= size:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(f"bytes={first}-", size)
    else:
        assert parse_range(f"bytes={first}-", size) == (first, size - 1)


@given(size=st.integers(min_value=1, max_value=10**12), suffix=st.integers(1, 10**13))
def test_parse_range_suffix_is_the_last_bytes(size: int, suffix: int) -> None:
    start, end = parse_range(f"bytes=-{suffix}", size) or (None, None)
    assert end == size - 1
    assert start == max(0, size - suffix)


@given(
    size=st.integers(min_value=0, max_value=10**6),
    header=st.one_of(
        st.text(max_size=40),
        st.from_regex(r"\Abytes=\d{0,8}-\d{0,8}\Z"),
        st.from_regex(r"\Abytes=\d{0,3}-\d{0,3}(,\d{0,3}-\d{0,3})*\Z"),
    ),
)
def test_parse_range_answers_a_range_inside_the_file_or_nothing(size: int, header: str) -> None:
    try:
        result = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    if result is not None:
        start, end = result
        assert 0 <= start <= end < size


# --- The download's short path (pixtier.common.downloads) -----------------------------


SECURITY_HEADERS = (
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
)


def test_downloads_carry_the_security_headers_of_every_other_answer(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any], enterprise_user: User
) -> None:
    from pixtier.accounts.authentication import access_token_issue

    listing = owner.get("/api/v1/images/")
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_issue(user=enterprise_user)}")
    downloads = {
        "bearer": bearer.get(image["thumbnails"][0]["url"]),
        "link": anonymous.get(share(owner, image, expires_in=300)["url"]),
        "refused": anonymous.get(image["original"]),
    }

    assert [r.status_code for r in downloads.values()] == [200, 200, 401]
    for response in downloads.values():
        for header in SECURITY_HEADERS:
            assert response[header] == listing[header], header
    assert downloads["bearer"]["X-Content-Type-Options"] == "nosniff"


def test_a_signed_in_browsable_api_session_downloads_its_images(
    enterprise_user: User, image: dict[str, Any]
) -> None:
    session = APIClient()
    assert session.login(username=enterprise_user.username, password="correct horse battery staple")

    for url in (image["original"], image["thumbnails"][0]["url"]):
        response = session.get(url)
        assert response.status_code == 200
        assert response.getvalue()[:2] == b"\xff\xd8"

    session.logout()
    assert session.get(image["original"]).status_code == 401


@pytest.mark.parametrize("height", [2**31 - 1, 2**31, 77076996853799130759168])
def test_a_height_no_database_column_can_hold_is_simply_not_in_the_tier(
    owner: APIClient, image: dict[str, Any], height: int
) -> None:
    url = image["thumbnails"][0]["url"].replace("/200/", f"/{height}/")

    response = owner.get(url)

    assert response.status_code == 403
    assert f"Height {height} is not in the Enterprise tier" in response.json()["detail"]
