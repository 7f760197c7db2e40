"""A real `celery -A config worker` on the real broker: it makes an upload's thumbnails
with no request asking for them, makes a height a tier gains, and runs what
`celery -A config beat` schedules (the link purge, the thumbnail prune)."""

import io
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from PIL import Image as PILImage

from pixtier.accounts.models import ThumbnailSize, Tier, User
from pixtier.images.models import Image, Thumbnail
from pixtier.links.models import ExpiringLink
from tests.helpers import jpeg_bytes, photo
from tests.integration.helpers import (
    bucket_objects,
    files_on_disk,
    generations,
    upload,
    wait_for,
)
from tests.integration.procs import BIN, celery_worker, gunicorn, process

pytestmark = pytest.mark.django_db(transaction=True)


def twelve_megapixels(kind: str) -> bytes:
    """A 4000x3000 JPEG: the conftest's photo-like picture (smooth, so small), or the same
    with sensor-like noise (as large as a camera's)."""
    if kind == "photo-like":
        return jpeg_bytes(4000, 3000)
    noise = PILImage.effect_noise((4000, 3000), 64).convert("RGB")
    out = io.BytesIO()
    PILImage.blend(photo(4000, 3000), noise, 0.3).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def worker_env(service_env: dict[str, str]) -> dict[str, str]:
    return {**service_env, "BACKGROUND_MODE": "celery"}


def ready_heights(image_id: str) -> list[int]:
    rows = Thumbnail.objects.filter(image_id=image_id, state=Thumbnail.State.READY)
    return sorted(rows.values_list("height", flat=True))


def test_the_upload_answers_with_its_thumbnails_ready_and_leaves_the_worker_nothing_to_do(
    enterprise_user: User,
    worker_env: dict[str, str],
    media_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Also measures upload -> all thumbnails READY for 12-megapixel JPEGs: the first
    upload meets freshly started processes, the others warm ones."""
    web_log, worker_log = tmp_path / "gunicorn.log", tmp_path / "worker.log"
    runs = [("photo-like", "cold"), ("photo-like", "warm"), ("noisy", "warm")]
    images, inputs = [], {kind: twelve_megapixels(kind) for kind in ("photo-like", "noisy")}
    with (
        celery_worker(env=worker_env, log=worker_log),
        gunicorn(env=worker_env, log=web_log) as base,
    ):
        for kind, processes in runs:
            data = inputs[kind]
            started = time.perf_counter()
            image = upload(base, enterprise_user, data)
            answered = time.perf_counter() - started
            # READY when the upload answers: the web process made them in its one decode.
            assert ready_heights(image["id"]) == [200, 400]
            images.append(image)
            with capsys.disabled():
                print(
                    f"\n12-megapixel JPEG, {kind} ({len(data) / 1e6:.2f} MB), {processes} "
                    f"processes: 201 with every thumbnail READY after {answered:.2f} s"
                )

    for image in images:
        assert (image["width"], image["height"]) == (4000, 3000)
        # The web process made them, once; the worker had nothing to do.
        assert generations([web_log], image["id"]) == {200: 1, 400: 1}
        assert generations([worker_log], image["id"]) == {}
        thumbs = Thumbnail.objects.filter(image_id=image["id"])
        assert {(t.pixel_width, t.pixel_height) for t in thumbs} == {(267, 200), (533, 400)}
    keys = [
        key
        for image in Image.objects.prefetch_related("thumbnails")
        for key in (image.original_key, *(t.key for t in image.thumbnails.all()))
    ]
    assert sorted(bucket_objects()) == sorted(keys)
    assert files_on_disk(media_root) == []


def test_a_height_added_to_a_tier_is_made_by_the_worker_for_existing_images(
    settings: Any,
    premium_user: User,
    uploaded: Any,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    images = [uploaded(premium_user, jpeg_bytes(800, 600)) for _ in range(2)]
    assert all(ready_heights(image["id"]) == [200, 400] for image in images)  # the uploads'
    settings.PIXTIER_BACKGROUND = "celery"

    with celery_worker(env=worker_env, log=tmp_path / "worker.log"):
        ThumbnailSize.objects.create(tier=Tier.objects.get(name="Premium"), height=300)
        wait_for(
            lambda: all(ready_heights(image["id"]) == [200, 300, 400] for image in images),
            timeout=60,
            what="the new height for every image",
        )

    assert "pixtier.images.tasks.backfill_tier" in (tmp_path / "worker.log").read_text()


def test_beat_schedules_the_purge_and_the_prune_and_the_worker_runs_them(
    enterprise_user: User,
    uploaded: Any,
    client_for: Any,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    image = uploaded(enterprise_user)
    client = client_for(enterprise_user)
    for entry in image["thumbnails"]:
        assert client.get(entry["url"]).status_code == 200
    now = timezone.now()
    live = ExpiringLink.objects.create(
        image_id=image["id"],
        expires_in=300,
        created_at=now,
        expires_at=now + timedelta(seconds=300),
    )
    ExpiringLink.objects.create(
        image_id=image["id"],
        expires_in=300,
        created_at=now - timedelta(seconds=600),
        expires_at=now - timedelta(seconds=300),
    )
    Tier.objects.get(name="Enterprise").sizes.filter(height=400).delete()
    doomed = Thumbnail.objects.get(image_id=image["id"], height=400).key

    every_second = {"PURGE_LINKS_EVERY_SECONDS": "1", "PRUNE_THUMBNAILS_EVERY_SECONDS": "1"}
    beat = [
        str(BIN / "celery"),
        "-A",
        "config",
        "beat",
        "--loglevel=INFO",
        f"--schedule={tmp_path / 'celerybeat-schedule'}",
    ]
    with (
        celery_worker(env={**worker_env, **every_second}, log=tmp_path / "worker.log"),
        process(beat, env={**worker_env, **every_second}, log=tmp_path / "beat.log"),
    ):
        wait_for(lambda: list(ExpiringLink.objects.all()) == [live], timeout=30, what="the purge")
        wait_for(
            lambda: doomed not in bucket_objects() and ready_heights(image["id"]) == [200],
            timeout=30,
            what="the prune",
        )

    beat_log = (tmp_path / "beat.log").read_text()
    assert "pixtier.links.tasks.purge_expired_links" in beat_log
    assert "pixtier.images.tasks.prune_thumbnails" in beat_log
