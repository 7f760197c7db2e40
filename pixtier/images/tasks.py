"""Background work for images: Celery tasks for the workers, and the dispatch that queues
them (or, without Redis, runs the same services on one in-process thread after commit)."""

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import connection

from pixtier.common.breaker import Breaker
from pixtier.common.tasks import RETRYING
from pixtier.images import backfills, selectors, thumbnails
from pixtier.images.processing import OutputFormat

logger = logging.getLogger(__name__)


@shared_task(bind=True, **RETRYING)
def generate_thumbnails(self: Task, image_id: str) -> list[int]:
    """Make an image's thumbnails for its owner's current tier (queued after upload)."""
    pk = uuid.UUID(str(image_id))
    made = thumbnails.thumbnails_generate_for_image(image_id=pk)
    if selectors.thumbnail_heights_missing(image_id=pk):
        # Another process holds a claim. If it dies mid-generation its claim turns
        # stale, and this retry takes it over: the thumbnail is made without a request.
        if self.request.retries < self.max_retries:
            raise self.retry(countdown=settings.PIXTIER_THUMBNAIL_CLAIM_SECONDS + 1)
        logger.warning("thumbnails of %s still claimed elsewhere; left to requests", image_id)
    return made


@shared_task(**RETRYING)
def refine_thumbnails(image_id: str, heights: list[int], fmt: str) -> list[int]:
    """Encode again, thorough, the thumbnails a request made fast (queued by it)."""
    return thumbnails.thumbnails_refine(
        image_id=uuid.UUID(str(image_id)),
        heights=heights,
        fmt=fmt,  # type: ignore[arg-type]  # what enqueue_refine was given
    )


@shared_task(**RETRYING)
def backfill_tier(tier_id: int) -> int:
    """Make a tier's heights for its users' existing images (queued when it gains one)."""
    return thumbnails.thumbnails_backfill_tier(tier_id=tier_id)


@shared_task(**RETRYING)
def prune_thumbnails() -> int:
    """Periodic (beat): drop thumbnails of heights no longer in the owner's tier."""
    return thumbnails.thumbnails_prune()


@shared_task(**RETRYING)
def backfill_placeholders(after: str | None = None) -> int:
    """Placeholders for images stored before they existed, a batch per run; queues the
    next batch itself until none is left (``manage.py backfill_placeholders --queue``)."""
    last = backfills.image_placeholders_backfill(
        after=uuid.UUID(after) if after else None, limit=PLACEHOLDER_BATCH
    )
    if last is None:
        return 0
    backfill_placeholders.delay(str(last))
    return 1


PLACEHOLDER_BATCH = 200


# --- Dispatch -------------------------------------------------------------------------
# Services call these through transaction.on_commit, so a job never runs before its row
# exists. PIXTIER_BACKGROUND picks where it runs: "celery" queues it for the workers,
# "thread" runs it on one in-process thread, "sync" at once, "off" not at all (requests
# make thumbnails on demand, and a first request's fast AVIF stays as it is).

_executor: ThreadPoolExecutor | None = None


def _guarded(job: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    try:
        job(**kwargs)
    except Exception:
        # On-demand generation covers for a failed background job; log and move on.
        logger.exception("background job %s(%s) failed", job.__name__, kwargs)


def _on_worker_thread(job: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    try:
        _guarded(job, kwargs)
    finally:
        # The worker's connection is its own: close it whatever the mode setting says by
        # now (it may have changed since the job was queued), or it stays open for good.
        connection.close()


# After a failed publish this process leaves the broker alone for a while: each attempt
# on a broker that hangs costs seconds (the socket timeouts in settings) of the request
# that queues, and requests make the thumbnails on demand anyway.
broker = Breaker("broker")


def _queue(task: Any, *args: Any) -> None:
    if not broker.closed():
        logger.warning("not queued %s%s: the broker is unavailable", task.name, args)
        return
    try:
        task.delay(*args)
    except Exception as exc:
        # The write is committed and the response must say so; a broker outage costs
        # only the head start (requests make thumbnails on demand).
        broker.trip(f"queue {task.name}{args}", exc)
        logger.exception("could not queue %s%s", task.name, args)


def _run(job: Callable[..., Any], **kwargs: Any) -> None:
    global _executor
    mode = settings.PIXTIER_BACKGROUND
    if mode == "off":
        return
    if mode == "sync":
        _guarded(job, kwargs)
        return
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixtier-bg")
    _executor.submit(_on_worker_thread, job, kwargs)


def enqueue_thumbnails(*, image_id: uuid.UUID) -> None:
    if settings.PIXTIER_BACKGROUND == "celery":
        _queue(generate_thumbnails, str(image_id))
    else:
        _run(thumbnails.thumbnails_generate_for_image, image_id=image_id)


def enqueue_tier_backfill(*, tier_id: int) -> None:
    if settings.PIXTIER_BACKGROUND == "celery":
        _queue(backfill_tier, tier_id)
    else:
        _run(thumbnails.thumbnails_backfill_tier, tier_id=tier_id)


def enqueue_refine(*, image_id: uuid.UUID, heights: list[int], fmt: OutputFormat) -> None:
    if settings.PIXTIER_BACKGROUND == "celery":
        _queue(refine_thumbnails, str(image_id), heights, fmt)
    else:
        _run(thumbnails.thumbnails_refine, image_id=image_id, heights=heights, fmt=fmt)
