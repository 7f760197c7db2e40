"""How bytes leave once Django has said yes: X-Accel-Redirect hands nginx a path to an
internal location; the redirect mode sends a presigned URL that never outlives the link.
Either way the decision (401/403/404/410) and the 304s stay Django's.

The X-Accel tests run in every pass (local files); the redirect tests need the real
S3-compatible server (STORAGE_BACKEND=s3). tests/integration/test_delivery_modes.py runs
both through the real programs.
"""

import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.http import http_date
from rest_framework.test import APIClient

from pixtier.accounts.models import Tier, User
from pixtier.delivery import presign_seconds
from pixtier.images.models import Image, Thumbnail
from pixtier.links.models import ExpiringLink
from tests.helpers import ORIGINAL, share

LOCAL = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
# Enough to build an S3Storage; nothing here reaches a server.
S3_NOWHERE = {
    "BACKEND": "storages.backends.s3.S3Storage",
    "OPTIONS": {
        "bucket_name": "nowhere",
        "access_key": "key",
        "secret_key": "secret",
        "endpoint_url": "http://127.0.0.1:9",
    },
}
ON_S3 = django_settings.STORAGE_BACKEND == "s3"
needs_s3 = pytest.mark.skipif(not ON_S3, reason="the redirect mode needs STORAGE_BACKEND=s3")


def etag_of(image: dict[str, Any]) -> str:
    return f'"{Image.objects.get(pk=image["id"]).sha256[:32]}"'


def max_age(response: Any) -> int:
    match = re.search(r"max-age=(\d+)", response["Cache-Control"])
    assert match, response["Cache-Control"]
    return int(match.group(1))


def assert_refused(response: Any, status: int) -> None:
    assert response.status_code == status
    assert "X-Accel-Redirect" not in response
    assert "Location" not in response


# --- X-Accel-Redirect -----------------------------------------------------------------


@pytest.fixture
def use_storage(settings: Any) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Swap the default storage for this test; the suite's own storage is back before
    the shared fixtures clean it up."""
    suite_storages = settings.STORAGES
    yield lambda default: setattr(settings, "STORAGES", {**suite_storages, "default": default})
    settings.STORAGES = suite_storages


@pytest.fixture
def x_accel(settings: Any, media_root: Path, use_storage: Callable[[dict[str, Any]], None]) -> Path:
    """Local files (nginx reads them from MEDIA_ROOT) and the X-Accel mode."""
    use_storage(LOCAL)
    settings.PIXTIER_DELIVERY = "x-accel"
    return media_root


SAME_AS_STREAMED = ("Content-Type", "Content-Disposition", "Cache-Control", "ETag", "Last-Modified")


@pytest.mark.parametrize("which", ["original", "thumbnail"])
def test_x_accel_hands_nginx_the_file_with_the_headers_django_would_send(
    x_accel: Path, settings: Any, owner: APIClient, image: dict[str, Any], which: str
) -> None:
    url = image["original"] if which == "original" else image["thumbnails"][0]["url"]

    response = owner.get(url)

    assert response.status_code == 200
    assert response.getvalue() == b""
    key = (
        Image.objects.get(pk=image["id"]).original_key
        if which == "original"
        else Thumbnail.objects.get(image_id=image["id"], height=200).key
    )
    assert response["X-Accel-Redirect"] == f"/_protected/{key}"
    assert (x_accel / key).is_file()  # what nginx's alias of MEDIA_ROOT will find
    settings.PIXTIER_DELIVERY = "django"
    streamed = owner.get(url)
    for header in SAME_AS_STREAMED:
        assert response[header] == streamed[header], header
    assert response["Cache-Control"] == "private, no-cache"


def test_x_accel_uses_the_configured_prefix(
    x_accel: Path, settings: Any, owner: APIClient, image: dict[str, Any]
) -> None:
    settings.PIXTIER_X_ACCEL_PREFIX = "/internal-media"  # with or without its slash

    response = owner.get(image["original"])

    assert response["X-Accel-Redirect"].startswith("/internal-media/originals/")


def test_x_accel_leaves_ranges_to_nginx(
    x_accel: Path, owner: APIClient, image: dict[str, Any]
) -> None:
    response = owner.get(image["original"], HTTP_RANGE="bytes=0-9")

    assert response.status_code == 200
    assert "X-Accel-Redirect" in response
    assert "Content-Range" not in response


def test_x_accel_still_answers_conditional_requests_itself(
    x_accel: Path, owner: APIClient, image: dict[str, Any]
) -> None:
    etag = etag_of(image)

    not_modified = owner.get(image["original"], HTTP_IF_NONE_MATCH=etag)
    precondition_failed = owner.get(image["original"], HTTP_IF_MATCH='"another-version"')

    assert_refused(not_modified, 304)
    assert not_modified["ETag"] == etag
    assert not_modified["Cache-Control"] == "private, no-cache"
    assert_refused(precondition_failed, 412)


@pytest.mark.parametrize("header", ["If-Match", "If-Unmodified-Since"])
def test_a_precondition_that_holds_is_served_by_django_itself(
    x_accel: Path, owner: APIClient, image: dict[str, Any], header: str
) -> None:
    """nginx would judge it again against its own validators and answer 412."""
    first = owner.get(image["original"])
    validator = first["ETag"] if header == "If-Match" else first["Last-Modified"]

    response = owner.get(image["original"], headers={header: validator})

    assert response.status_code == 200
    assert "X-Accel-Redirect" not in response
    assert response.getvalue() == ORIGINAL


def test_x_accel_keeps_django_s_access_decisions(
    x_accel: Path,
    image: dict[str, Any],
    enterprise_user: User,
    client_for: Callable[[User | None], APIClient],
    stranger: User,
    anonymous: APIClient,
) -> None:
    assert_refused(client_for(stranger).get(image["original"]), 404)
    assert_refused(anonymous.get(image["original"]), 401)
    enterprise_user.tier = Tier.objects.get(name="Basic")
    enterprise_user.save()
    assert_refused(client_for(enterprise_user).get(image["original"]), 403)
    assert_refused(client_for(enterprise_user).get(image["thumbnails"][1]["url"]), 403)


@pytest.mark.parametrize("height", [None, 200])
def test_x_accel_serves_an_expiring_link_with_caching_bound_to_the_link(
    x_accel: Path, owner: APIClient, anonymous: APIClient, image: dict[str, Any], height: int | None
) -> None:
    start = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        link = share(owner, image, expires_in=300, **({"height": height} if height else {}))
    expires_at = datetime.fromisoformat(link["expires_at"])

    with time_machine.travel(start + timedelta(seconds=200), tick=False):
        response = anonymous.get(link["url"])
    with time_machine.travel(start + timedelta(seconds=300), tick=False):
        expired = anonymous.get(link["url"])

    assert response.status_code == 200
    assert response["X-Accel-Redirect"].startswith(
        "/_protected/originals/" if height is None else "/_protected/thumbnails/"
    )
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, max-age=100"
    assert response["Expires"] == http_date(expires_at.timestamp())
    assert_refused(expired, 410)


def test_x_accel_counts_a_limited_link_by_the_range_nginx_will_send(
    x_accel: Path, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, max_downloads=2)

    later_range = anonymous.get(link["url"], HTTP_RANGE="bytes=100-")  # nginx sends a part
    first_range = anonymous.get(link["url"], HTTP_RANGE="bytes=0-99")  # the download starts
    whole = anonymous.get(link["url"])
    used_up = anonymous.get(link["url"])

    assert [r.status_code for r in (later_range, first_range, whole)] == [200, 200, 200]
    assert all("X-Accel-Redirect" in r for r in (later_range, first_range, whole))
    assert_refused(used_up, 410)
    assert ExpiringLink.objects.get(pk=link["id"]).downloads == 2


def test_x_accel_refuses_to_run_on_object_storage(
    x_accel: Path,
    use_storage: Callable[[dict[str, Any]], None],
    owner: APIClient,
    image: dict[str, Any],
) -> None:
    use_storage(S3_NOWHERE)

    with pytest.raises(ImproperlyConfigured, match="x-accel"):
        owner.get(image["original"])


# --- Presigned redirect ---------------------------------------------------------------


def test_the_redirect_mode_refuses_to_run_on_local_files(
    settings: Any,
    use_storage: Callable[[dict[str, Any]], None],
    owner: APIClient,
    image: dict[str, Any],
) -> None:
    use_storage(LOCAL)
    settings.PIXTIER_DELIVERY = "redirect"

    with pytest.raises(ImproperlyConfigured, match="redirect"):
        owner.get(image["original"])


@pytest.mark.parametrize(
    ("presign", "left", "expected"),
    [
        (60, None, 60),
        (10, None, 10),
        (60, 3600, 60),
        (60, 30.9, 30),
        (60, 1.5, 1),
        (60, 0.2, 1),  # the link check already passed: at least a second to fetch it
        (5, 30, 5),
    ],
)
def test_a_presigned_url_lives_presign_seconds_and_never_past_the_link(
    settings: Any, presign: int, left: float | None, expected: int
) -> None:
    settings.PIXTIER_PRESIGN_SECONDS = presign
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        expires = None if left is None else now + timedelta(seconds=left)
        assert presign_seconds(expires) == expected


@pytest.fixture
def redirect(settings: Any) -> None:
    settings.PIXTIER_DELIVERY = "redirect"


def presigned(response: Any) -> dict[str, str]:
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    return {name: values[0] for name, values in query.items()}


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@needs_s3
def test_the_redirect_is_a_short_presigned_get_that_serves_the_bytes(
    redirect: None, owner: APIClient, image: dict[str, Any]
) -> None:
    response = owner.get(image["original"])

    query = presigned(response)
    assert query["X-Amz-Expires"] == "60"
    assert query["response-content-type"] == "image/jpeg"
    assert query["response-cache-control"] == "private, no-cache"
    assert query["response-content-disposition"].startswith("inline; filename=")
    # The 302 is cached no longer than its URL lives, and has no validators to revive it.
    assert response["Cache-Control"] == "private, max-age=59"
    assert "ETag" not in response
    assert "Last-Modified" not in response
    status, headers, body = fetch(response["Location"])
    assert status == 200
    assert body == ORIGINAL
    assert headers["Content-Type"] == "image/jpeg"


@needs_s3
def test_the_redirect_serves_a_thumbnail_too(
    redirect: None, owner: APIClient, image: dict[str, Any]
) -> None:
    response = owner.get(image["thumbnails"][0]["url"])

    key = Thumbnail.objects.get(image_id=image["id"], height=200).key
    assert urlsplit(response["Location"]).path.endswith(key)
    status, _, body = fetch(response["Location"])
    assert status == 200
    assert body[:2] == b"\xff\xd8"


@needs_s3
def test_the_redirect_follows_presign_seconds(
    redirect: None, settings: Any, owner: APIClient, image: dict[str, Any]
) -> None:
    settings.PIXTIER_PRESIGN_SECONDS = 5

    response = owner.get(image["original"])

    assert presigned(response)["X-Amz-Expires"] == "5"
    assert response["Cache-Control"] == "private, max-age=4"


@needs_s3
@pytest.mark.parametrize(("elapsed", "lifetime"), [(0, 60), (270, 30), (299, 1)])
def test_the_redirect_of_an_expiring_link_never_outlives_the_link(
    redirect: None,
    owner: APIClient,
    anonymous: APIClient,
    image: dict[str, Any],
    elapsed: int,
    lifetime: int,
) -> None:
    start = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        link = share(owner, image, expires_in=300)

    with time_machine.travel(start + timedelta(seconds=elapsed), tick=False):
        response = anonymous.get(link["url"])

    query = presigned(response)
    assert int(query["X-Amz-Expires"]) == lifetime
    assert max_age(response) < lifetime
    assert query["response-cache-control"] == f"private, max-age={300 - elapsed}"


@needs_s3
def test_the_redirect_mode_still_answers_conditional_requests_itself(
    redirect: None, owner: APIClient, image: dict[str, Any]
) -> None:
    not_modified = owner.get(image["original"], HTTP_IF_NONE_MATCH=etag_of(image))
    # The object store would compare If-Match with its own ETag: Django sends these bytes.
    holds = owner.get(image["original"], HTTP_IF_MATCH=etag_of(image))

    assert_refused(not_modified, 304)
    assert holds.status_code == 200
    assert holds.getvalue() == ORIGINAL


@needs_s3
def test_the_redirect_mode_keeps_django_s_access_decisions(
    redirect: None,
    image: dict[str, Any],
    enterprise_user: User,
    client_for: Callable[[User | None], APIClient],
    stranger: User,
    anonymous: APIClient,
) -> None:
    assert_refused(client_for(stranger).get(image["original"]), 404)
    assert_refused(anonymous.get(image["original"]), 401)
    enterprise_user.tier = Tier.objects.get(name="Basic")
    enterprise_user.save()
    assert_refused(client_for(enterprise_user).get(image["original"]), 403)
