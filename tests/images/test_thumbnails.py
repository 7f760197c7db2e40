"""Thumbnails: made by the upload's own decode (ready when it answers), and otherwise
(a height added to a tier) made once on demand even under concurrent requests, stored,
reused."""

import io
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import close_old_connections, connection
from django.utils import timezone
from PIL import Image as PILImage
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.images import ondemand, processing
from pixtier.images.models import Thumbnail
from tests.concurrency import at_once
from tests.helpers import forget_thumbnails, jpeg_bytes, png_bytes, stored_files


@pytest.fixture
def generations(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """How many times each height went through the image pipeline (calls through)."""
    made: Counter[int] = Counter()
    lock = threading.Lock()
    real = processing.process

    def counting(data: bytes, **kwargs: Any) -> processing.Processed:
        with lock:
            made.update(kwargs.get("heights", ()))
        return real(data, **kwargs)

    monkeypatch.setattr(processing, "process", counting)
    return made


def thumbnail_files(height: int) -> list[str]:
    """Stored thumbnail files of one height (keys end in ``<height>_<version>``)."""
    return [
        name
        for name in stored_files()
        if name.startswith("thumbnails/") and Path(name).stem.split("_")[0] == str(height)
    ]


def thumbnail_url(image: dict[str, Any], height: int) -> str:
    url: str = next(t["url"] for t in image["thumbnails"] if t["height"] == height)
    return url


def fetch_concurrently(user: User, urls: list[str]) -> list[tuple[int, bytes]]:
    """GET every URL at the same moment, each from its own thread and client."""

    def fetcher(url: str) -> Callable[[], tuple[int, bytes]]:
        def fetch() -> tuple[int, bytes]:
            client = APIClient()
            client.force_authenticate(user)
            response = client.get(url)
            return response.status_code, response.getvalue()

        return fetch

    return at_once([fetcher(url) for url in urls])


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_for_a_missing_thumbnail_make_it_once(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    generations: Counter[int],
) -> None:
    image = uploaded(enterprise_user, jpeg_bytes(1600, 1200))
    forget_thumbnails(image["id"])
    generations.clear()

    results = fetch_concurrently(enterprise_user, [thumbnail_url(image, 200)] * 8)

    assert [status for status, _ in results] == [200] * 8
    bodies = {body for _, body in results}
    assert len(bodies) == 1
    assert PILImage.open(io.BytesIO(bodies.pop())).size == (267, 200)
    # The winner also made the tier's other height from the same decode.
    assert generations == Counter({200: 1, 400: 1})
    assert len(thumbnail_files(200)) == 1
    assert len(thumbnail_files(400)) == 1
    assert Thumbnail.objects.filter(state=Thumbnail.State.READY).count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_for_different_heights_make_each_once(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    generations: Counter[int],
) -> None:
    image = uploaded(enterprise_user, png_bytes(900, 600))
    forget_thumbnails(image["id"])
    generations.clear()
    urls = [thumbnail_url(image, 200), thumbnail_url(image, 400)] * 4

    results = fetch_concurrently(enterprise_user, urls)

    assert [status for status, _ in results] == [200] * 8
    assert len({body for url, (_, body) in zip(urls, results, strict=True) if "/200/" in url}) == 1
    assert len({body for url, (_, body) in zip(urls, results, strict=True) if "/400/" in url}) == 1
    assert generations == Counter({200: 1, 400: 1})
    assert len(thumbnail_files(200)) == 1
    assert len(thumbnail_files(400)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_waiting_request_makes_the_thumbnail_when_the_maker_gives_up(
    settings: Any,
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    generations: Counter[int],
) -> None:
    """A maker that fails releases its claim; whoever waits takes over at once."""
    image = uploaded(basic_user)
    forget_thumbnails(image["id"])
    generations.clear()
    claim = Thumbnail.objects.create(
        image_id=image["id"], height=200, format="jpeg", claimed_at=timezone.now()
    )

    def give_up() -> None:
        time.sleep(0.3)
        close_old_connections()
        try:
            Thumbnail.objects.filter(pk=claim.pk).delete()
        finally:
            connection.close()

    maker = threading.Thread(target=give_up)
    maker.start()
    response = client_for(basic_user).get(thumbnail_url(image, 200))
    maker.join()

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert generations[200] == 1


def test_a_thumbnail_is_generated_once_stored_and_reused(
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    generations: Counter[int],
) -> None:
    image = uploaded(basic_user)
    forget_thumbnails(image["id"])
    generations.clear()
    client = client_for(basic_user)

    first = client.get(thumbnail_url(image, 200))
    assert first.status_code == 200
    [stored] = thumbnail_files(200)
    before = (default_storage.get_modified_time(stored), default_storage.size(stored))

    second = client.get(thumbnail_url(image, 200))

    assert second.status_code == 200
    assert second.getvalue() == first.getvalue()
    assert generations[200] == 1
    assert thumbnail_files(200) == [stored]
    after = (default_storage.get_modified_time(stored), default_storage.size(stored))
    assert after == before


def test_the_thumbnail_has_the_size_the_representation_promises(
    premium_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
) -> None:
    image = uploaded(premium_user, png_bytes(300, 150), name="wide.png", content_type="image/png")
    client = client_for(premium_user)

    for entry in image["thumbnails"]:
        response = client.get(entry["url"])
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        served = PILImage.open(io.BytesIO(response.getvalue()))
        assert served.format == "PNG"
        # 400 is taller than the original: no upscaling, the original's size.
        expected_height = min(entry["height"], 150)
        assert served.size == (entry["width"], expected_height)


def test_a_stale_claim_is_taken_over_and_the_thumbnail_served(
    settings: Any,
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    generations: Counter[int],
) -> None:
    image = uploaded(basic_user)
    forget_thumbnails(image["id"])
    generations.clear()
    abandoned_at = timezone.now() - timedelta(seconds=settings.PIXTIER_THUMBNAIL_CLAIM_SECONDS + 1)
    Thumbnail.objects.create(
        image_id=image["id"], height=200, format="jpeg", claimed_at=abandoned_at
    )

    response = client_for(basic_user).get(thumbnail_url(image, 200))

    assert response.status_code == 200
    assert PILImage.open(io.BytesIO(response.getvalue())).height == 200
    assert generations[200] == 1
    thumb = Thumbnail.objects.get(image_id=image["id"], height=200)
    assert thumb.state == Thumbnail.State.READY
    assert len(thumbnail_files(200)) == 1


class FakeClock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.time = 1000.0
        self.naps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.time += seconds


def test_a_fresh_claim_held_elsewhere_makes_the_request_wait_then_503(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    generations: Counter[int],
) -> None:
    settings.PIXTIER_THUMBNAIL_WAIT_SECONDS = 30
    clock = FakeClock()
    monkeypatch.setattr(ondemand, "CLOCK", ondemand.WaitClock(clock.now, clock.sleep))
    image = uploaded(basic_user)
    forget_thumbnails(image["id"])
    generations.clear()
    Thumbnail.objects.create(
        image_id=image["id"], height=200, format="jpeg", claimed_at=timezone.now()
    )

    response = client_for(basic_user).get(thumbnail_url(image, 200))

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert "retry" in response.json()["detail"].lower()
    assert int(response["Retry-After"]) > 0
    # It waited the whole limit and no longer, looking again at least every 0.25 s.
    assert 30 <= sum(clock.naps) < 30.25
    assert max(clock.naps) == 0.25
    assert generations[200] == 0
    assert thumbnail_files(200) == []


@pytest.mark.parametrize("background", ["off", "sync", "thread"])
def test_the_upload_answers_with_every_tier_height_ready_from_one_decode(
    settings: Any,
    background: str,
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    generations: Counter[int],
) -> None:
    settings.PIXTIER_BACKGROUND = background

    image = uploaded(enterprise_user, jpeg_bytes(1200, 900))

    # Ready when the upload answers, whatever the background mode: no job to wait for.
    thumbs = Thumbnail.objects.filter(image_id=image["id"])
    assert {(t.height, t.state) for t in thumbs} == {
        (200, Thumbnail.State.READY),
        (400, Thumbnail.State.READY),
    }
    for thumb in thumbs:
        assert default_storage.exists(thumb.key)
    assert generations == Counter({200: 1, 400: 1})  # one decode made both

    # Requests then only read them.
    client = client_for(enterprise_user)
    for entry in image["thumbnails"]:
        response = client.get(entry["url"])
        assert response.status_code == 200
        assert PILImage.open(io.BytesIO(response.getvalue())).size == (
            entry["width"],
            entry["height"],
        )
    assert generations == Counter({200: 1, 400: 1})
    assert len(thumbnail_files(200)) == len(thumbnail_files(400)) == 1


def test_a_height_outside_the_tier_is_refused_and_not_made(
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    generations: Counter[int],
) -> None:
    image = uploaded(basic_user)
    generations.clear()

    response = client_for(basic_user).get(image["thumbnails"][0]["url"].replace("/200/", "/400/"))

    assert response.status_code == 403
    assert "400" in response.json()["detail"]
    assert not generations
    assert not Thumbnail.objects.filter(height=400).exists()
