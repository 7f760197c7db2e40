"""The thumbnail URLs negotiate (SPEC 10): owner and expiring links alike answer in AVIF,
WebP or the original's format by Accept (or ?format=), with Vary: Accept and an ETag of
their own; originals never change format."""

import io
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.images import processing
from pixtier.images.models import Thumbnail
from tests.concurrency import at_once
from tests.helpers import ORIGINAL, body_of, png_bytes, share

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}


@pytest.fixture
def generations(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[int, str]]:
    """How many times each (height, format) went through the image pipeline."""
    made: Counter[tuple[int, str]] = Counter()
    lock = threading.Lock()
    real = processing.make_thumbnails

    def counting(data: bytes, **kwargs: Any) -> dict[int, processing.Rendered]:
        with lock:
            made.update((height, kwargs["fmt"]) for height in kwargs["heights"])
        return real(data, **kwargs)

    monkeypatch.setattr(processing, "make_thumbnails", counting)
    return made


def opened(response: Any) -> PILImage.Image:
    return PILImage.open(io.BytesIO(body_of(response)))


def thumbnail_url(image: dict[str, Any], height: int = 200) -> str:
    return str(next(t["url"] for t in image["thumbnails"] if t["height"] == height))


def format_of(picture: PILImage.Image) -> str:
    return (picture.format or "").lower()


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "jpeg"),
        ("*/*", "jpeg"),
        ("image/*", "jpeg"),
        (CHROME, "avif"),
        ("image/webp,*/*", "webp"),
        ("image/avif;q=0.4, image/webp;q=0.8", "webp"),
        ("image/avif;q=0.5, image/jpeg", "jpeg"),
    ],
)
def test_the_thumbnail_url_answers_in_the_format_accept_prefers(
    owner: APIClient, image: dict[str, Any], accept: str | None, expected: str
) -> None:
    if accept is None:
        response = owner.get(thumbnail_url(image))
    else:
        response = owner.get(thumbnail_url(image), HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == TYPES[expected]
    assert response["Vary"] == "Accept"
    body = body_of(response)
    assert int(response["Content-Length"]) == len(body)
    picture = PILImage.open(io.BytesIO(body))
    assert format_of(picture) == expected
    assert picture.size == (267, 200)
    assert response["Content-Disposition"].endswith(
        f'-200px.{processing.EXTENSIONS[expected]}"'  # type: ignore[index]
    )


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
def test_the_format_parameter_forces_a_format_whatever_accept_says(
    owner: APIClient, image: dict[str, Any], fmt: str
) -> None:
    response = owner.get(thumbnail_url(image) + f"?format={fmt}", HTTP_ACCEPT=CHROME)

    assert response.status_code == 200
    assert response["Content-Type"] == TYPES[fmt]
    assert response["Vary"] == "Accept"
    assert format_of(opened(response)) == fmt


@pytest.mark.parametrize("value", ["gif", "jpg", "", "avif;q=1"])
def test_an_unknown_format_is_400_naming_the_formats_and_makes_nothing(
    owner: APIClient, image: dict[str, Any], value: str
) -> None:
    made_by_the_upload = set(Thumbnail.objects.values_list("pk", flat=True))

    response = owner.get(thumbnail_url(image), {"format": value})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "jpeg, png, webp, avif" in response.json()["detail"]
    assert set(Thumbnail.objects.values_list("pk", flat=True)) == made_by_the_upload


def test_each_format_has_its_own_etag_and_304(owner: APIClient, image: dict[str, Any]) -> None:
    url = thumbnail_url(image)
    avif = owner.get(url, HTTP_ACCEPT="image/avif")
    webp = owner.get(url, HTTP_ACCEPT="image/webp")
    jpeg = owner.get(url)
    tags = {avif["ETag"], webp["ETag"], jpeg["ETag"]}
    assert len(tags) == 3

    again = owner.get(url, HTTP_ACCEPT="image/avif", HTTP_IF_NONE_MATCH=avif["ETag"])
    assert again.status_code == 304
    assert again["ETag"] == avif["ETag"]
    assert again["Vary"] == "Accept"
    # The AVIF's validator does not revalidate the JPEG a client without AVIF gets.
    other = owner.get(url, HTTP_IF_NONE_MATCH=avif["ETag"])
    assert other.status_code == 200
    assert other["Content-Type"] == "image/jpeg"
    assert other["ETag"] == jpeg["ETag"]


def test_a_format_is_made_once_and_then_served_from_storage(
    owner: APIClient, image: dict[str, Any], generations: Counter[tuple[int, str]]
) -> None:
    first = owner.get(thumbnail_url(image), HTTP_ACCEPT="image/avif")
    second = owner.get(thumbnail_url(image), HTTP_ACCEPT="image/avif")

    assert body_of(first) == body_of(second)
    # The winner made the tier's other height in AVIF from the same decode.
    assert generations == Counter({(200, "avif"): 1, (400, "avif"): 1})


def test_transparency_survives_negotiation(
    enterprise_user: User,
    owner: APIClient,
    uploaded: Callable[..., dict[str, Any]],
) -> None:
    image = uploaded(
        enterprise_user, png_bytes(600, 400, "RGBA"), name="a.png", content_type="image/png"
    )

    for accept, fmt in (("image/avif", "avif"), ("image/webp", "webp"), ("*/*", "png")):
        response = owner.get(thumbnail_url(image), HTTP_ACCEPT=accept)
        assert response["Content-Type"] == TYPES[fmt]
        picture = opened(response)
        assert picture.mode == "RGBA"
        lowest, _ = picture.getchannel("A").getextrema()
        assert isinstance(lowest, int)
        assert lowest < 30


def test_the_original_is_served_as_uploaded_whatever_the_client_accepts(
    owner: APIClient, image: dict[str, Any]
) -> None:
    response = owner.get(image["original"], HTTP_ACCEPT="image/avif,image/webp")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert body_of(response) == ORIGINAL


def test_an_expiring_link_to_a_thumbnail_negotiates_the_same_way(
    owner: APIClient, image: dict[str, Any], anonymous: APIClient
) -> None:
    url = share(owner, image, height=200)["url"]
    anyone = anonymous

    avif = anyone.get(url, HTTP_ACCEPT=CHROME)
    jpeg = anyone.get(url)
    webp = anyone.get(url, {"format": "webp"})
    refused = anyone.get(url, {"format": "bmp"})

    assert (avif["Content-Type"], jpeg["Content-Type"], webp["Content-Type"]) == (
        "image/avif",
        "image/jpeg",
        "image/webp",
    )
    assert avif["Vary"] == jpeg["Vary"] == "Accept"
    assert avif["ETag"] != jpeg["ETag"]
    assert opened(avif).size == (267, 200)
    assert anyone.get(url, HTTP_ACCEPT=CHROME, HTTP_IF_NONE_MATCH=avif["ETag"]).status_code == 304
    assert refused.status_code == 400


def test_an_expiring_link_to_the_original_keeps_its_format(
    owner: APIClient, image: dict[str, Any], anonymous: APIClient
) -> None:
    response = anonymous.get(share(owner, image)["url"], HTTP_ACCEPT=CHROME)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"


# --- First requests at once -------------------------------------------------------------


def fetch_concurrently(user: User, requests: list[tuple[str, str]]) -> list[Any]:
    """GET every (url, Accept) at the same moment, each from its own thread and client."""

    def fetcher(url: str, accept: str) -> Callable[[], tuple[int, str, bytes]]:
        def fetch() -> tuple[int, str, bytes]:
            client = APIClient()
            client.force_authenticate(user)
            response = client.get(url, HTTP_ACCEPT=accept)
            return response.status_code, response["Content-Type"], body_of(response)

        return fetch

    return at_once([fetcher(url, accept) for url, accept in requests])


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_make_each_format_once(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    generations: Counter[tuple[int, str]],
) -> None:
    made = uploaded(
        enterprise_user, png_bytes(1600, 1200, "RGB"), name="p.png", content_type="image/png"
    )
    url = thumbnail_url(made)
    accepts = ["image/avif", "image/webp", "*/*"] * 3

    results = fetch_concurrently(enterprise_user, [(url, accept) for accept in accepts])

    assert [status for status, _, _ in results] == [200] * len(accepts)
    for fmt in ("avif", "webp", "png"):
        bodies = {body for _, kind, body in results if kind == TYPES[fmt]}
        assert len(bodies) == 1, fmt  # every request for a format got the same file
    # The PNG ones were made by the upload's own decode; each other format once.
    assert generations == Counter(
        {(height, fmt): 1 for height in (200, 400) for fmt in ("avif", "webp")}
    )
    assert Thumbnail.objects.filter(state=Thumbnail.State.READY).count() == 6
