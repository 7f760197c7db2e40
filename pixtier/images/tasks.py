"""Background work. Embedded mode runs it on one in-process thread after commit."""

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

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


def _dispatch(job: Callable[..., Any], **kwargs: Any) -> None:
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
    from pixtier.images.services import thumbnails_generate_for_image

    _dispatch(thumbnails_generate_for_image, image_id=image_id)


def enqueue_tier_backfill(*, tier_id: int) -> None:
    from pixtier.images.services import thumbnails_backfill_tier

    _dispatch(thumbnails_backfill_tier, tier_id=tier_id)
