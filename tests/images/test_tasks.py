"""The Celery tasks and the dispatch that queues them. Here they run eagerly, in this
process; tests/integration/ runs them on a real worker with the real broker."""

import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from config.celery import app as celery_app
from pixtier.accounts import tasks as account_tasks
from pixtier.accounts.models import ThumbnailSize, Tier, User
from pixtier.images import tasks, thumbnails
from pixtier.images.models import Thumbnail
from pixtier.links import tasks as link_tasks
from pixtier.links.models import ExpiringLink
from tests.helpers import forget_thumbnails, stored_files

ALL_TASKS = [
    account_tasks.purge_sign_in_records,
    tasks.generate_thumbnails,
    tasks.refine_thumbnails,
    tasks.backfill_tier,
    tasks.prune_thumbnails,
    link_tasks.purge_expired_links,
]


@pytest.fixture
def eager(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """Celery mode, with .delay() running the task here at once instead of on a worker."""
    settings.PIXTIER_BACKGROUND = "celery"
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)


def ready(image_id: str) -> list[int]:
    rows = Thumbnail.objects.filter(image_id=image_id, state=Thumbnail.State.READY)
    return sorted(rows.values_list("height", flat=True))


def test_the_worker_knows_every_task_beat_schedules() -> None:
    celery_app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in celery_app.tasks
    assert {task.name for task in ALL_TASKS} <= set(celery_app.tasks)


@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda task: task.name.rsplit(".", 1)[1])
def test_tasks_ack_late_and_retry_storage_errors_with_backoff(task: Any) -> None:
    assert task.acks_late
    assert {OSError, BotoCoreError, ClientError} <= set(task.autoretry_for)
    assert task.retry_backoff
    assert task.max_retries


def test_an_upload_in_celery_mode_queues_nothing_its_thumbnails_are_ready(
    eager: None,
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as queued:
        image = uploaded(enterprise_user)

    assert ready(image["id"]) == [200, 400]  # made by the upload's own decode
    assert queued == []


def test_a_height_added_in_celery_mode_is_backfilled_by_the_task(
    eager: None,
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    tier: Callable[[str], Tier],
    django_capture_on_commit_callbacks: Any,
) -> None:
    image = uploaded(basic_user)

    with django_capture_on_commit_callbacks(execute=True):
        ThumbnailSize.objects.create(tier=tier("Basic"), height=300)

    assert ready(image["id"]) == [200, 300]


def test_the_thumbnails_task_is_idempotent(
    enterprise_user: User, uploaded: Callable[..., dict[str, Any]]
) -> None:
    image = uploaded(enterprise_user)
    forget_thumbnails(image["id"])

    first = tasks.generate_thumbnails.apply(args=[image["id"]]).get()
    files = stored_files()
    again = tasks.generate_thumbnails.apply(args=[image["id"]]).get()

    assert (first, again) == ([200, 400], [])
    assert ready(image["id"]) == [200, 400]
    assert stored_files() == files


@pytest.mark.django_db
def test_the_thumbnails_task_for_a_deleted_image_does_nothing() -> None:
    assert tasks.generate_thumbnails.apply(args=[str(uuid.uuid4())]).get() == []


def test_the_thumbnails_task_looks_again_while_another_process_holds_a_claim(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Eagerly the retries come at once (and run out); on a worker each waits until the
    claim could be stale, so a dead holder's claim is taken over (tests/integration)."""
    image = uploaded(enterprise_user)
    forget_thumbnails(image["id"])
    Thumbnail.objects.create(
        image_id=image["id"], height=200, format="jpeg", claimed_at=timezone.now()
    )

    with caplog.at_level(logging.WARNING, logger="pixtier.images.tasks"):
        result = tasks.generate_thumbnails.apply(args=[image["id"]])

    assert result.get() == []  # the last attempt made nothing new
    assert ready(image["id"]) == [400]  # the first attempt made what was free
    assert "still claimed elsewhere" in caplog.text


def test_the_periodic_tasks_purge_links_and_prune_thumbnails(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    tier: Callable[[str], Tier],
) -> None:
    image = uploaded(enterprise_user)
    tasks.generate_thumbnails.apply(args=[image["id"]]).get()
    now = timezone.now()
    ExpiringLink.objects.create(
        image_id=image["id"], expires_in=300, created_at=now, expires_at=now - timedelta(1)
    )
    ThumbnailSize.objects.get(tier=tier("Enterprise"), height=400).delete()

    assert link_tasks.purge_expired_links.apply().get() == 1
    assert tasks.prune_thumbnails.apply().get() == 1
    assert link_tasks.purge_expired_links.apply().get() == 0
    assert tasks.prune_thumbnails.apply().get() == 0
    assert not ExpiringLink.objects.exists()
    assert ready(image["id"]) == [200]


@pytest.fixture
def broker_down(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Celery mode, and every publish of a backfill refused; the attempts are listed. No
    broker is stopped here: this stands in for kombu failing to publish."""
    settings.PIXTIER_BACKGROUND = "celery"
    attempts: list[str] = []

    def refused(*args: Any, **kwargs: Any) -> None:
        attempts.append("backfill_tier")
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.backfill_tier, "delay", refused)
    return attempts


def test_a_tier_change_still_succeeds_when_the_broker_is_down(
    broker_down: list[str],
    tier: Callable[[str], Tier],
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        ThumbnailSize.objects.create(tier=tier("Basic"), height=300)

    assert ThumbnailSize.objects.filter(tier=tier("Basic"), height=300).exists()
    assert "could not queue pixtier.images.tasks.backfill_tier" in caplog.text


def test_after_a_broker_failure_the_next_change_does_not_wait_on_it_again(
    broker_down: list[str],
    tier: Callable[[str], Tier],
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each attempt on a broker that hangs costs the request its socket timeouts: after
    one failure the next changes skip it for a while (requests make thumbnails anyway)."""
    for height in (300, 500):
        with django_capture_on_commit_callbacks(execute=True):
            ThumbnailSize.objects.create(tier=tier("Basic"), height=height)

    assert len(broker_down) == 1
    assert "not queued pixtier.images.tasks.backfill_tier" in caplog.text
    assert ThumbnailSize.objects.filter(tier=tier("Basic"), height=500).exists()


def test_a_background_job_that_fails_is_logged_and_the_change_stands(
    settings: Any,
    tier: Callable[[str], Tier],
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.PIXTIER_BACKGROUND = "sync"

    def storage_down(*, tier_id: int) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(thumbnails, "thumbnails_backfill_tier", storage_down)
    with django_capture_on_commit_callbacks(execute=True):
        ThumbnailSize.objects.create(tier=tier("Basic"), height=300)

    assert ThumbnailSize.objects.filter(tier=tier("Basic"), height=300).exists()
    assert "background job storage_down" in caplog.text
    assert "No space left on device" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_in_thread_mode_a_height_added_is_made_on_a_background_thread(
    settings: Any,
    basic_user: User,
    uploaded: Callable[..., dict[str, Any]],
    tier: Callable[[str], Tier],
) -> None:
    settings.PIXTIER_BACKGROUND = "thread"
    image = uploaded(basic_user)

    ThumbnailSize.objects.create(tier=tier("Basic"), height=300)  # commits: the job is queued

    deadline = time.monotonic() + 60  # generous: the thread shares a loaded machine
    while ready(image["id"]) != [200, 300]:
        assert time.monotonic() < deadline, ready(image["id"])
        time.sleep(0.02)


def test_a_first_avif_request_in_celery_mode_queues_its_refine(
    eager: None,
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    image = uploaded(enterprise_user)
    url = next(t["url"] for t in image["thumbnails"] if t["height"] == 200)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(enterprise_user).get(url, {"format": "avif"})

    assert response.status_code == 200
    rows = Thumbnail.objects.filter(image_id=image["id"], format="avif")
    assert sorted(rows.values_list("height", "encoding")) == [(200, "thorough"), (400, "thorough")]
