"""Thumbnails a request asks for: the stored one, or made now (once, whoever else asks
at the same time), waiting for a thumbnail another process is making; a first AVIF is
made fast, and its thorough encode queued for the background."""

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from pixtier.common.exceptions import NotFound, NotReady
from pixtier.images import processing, thumbnails
from pixtier.images.models import Image, Thumbnail
from pixtier.images.selectors import thumbnail_ready
from pixtier.images.tasks import enqueue_refine
from pixtier.images.thumbnails import original_format


@dataclass(frozen=True)
class WaitClock:
    """The time a request waiting for another process's thumbnail reads and sleeps on.
    Tests put a clock of their own in ``CLOCK`` (as DRF's throttles take a ``timer``), so
    waiting out the limit takes no real time."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


CLOCK = WaitClock()


class ThumbnailNotReady(NotReady):
    """Another process is still making the thumbnail after the wait limit."""


def thumbnail_get(
    *,
    image: Image,
    height: int,
    tier_heights: tuple[int, ...],
    fmt: processing.OutputFormat | None = None,
) -> Thumbnail:
    """The READY ``fmt`` thumbnail (default: the original's format) of ``image`` for
    tier height ``height``, made on demand.

    Concurrent callers make it once: one wins the claim (and makes the tier's other
    missing heights in that format from the same decode), the others wait for its row to
    turn READY. The maker encodes at the fast setting, for the first answer's sake, and
    queues the thorough encode that replaces it (``thumbnails.thumbnails_refine``).
    """
    fmt = fmt or original_format(image)
    clock = CLOCK
    deadline = clock.now() + settings.PIXTIER_THUMBNAIL_WAIT_SECONDS
    delay = 0.02
    wanted = [height, *(h for h in tier_heights if h != height)]
    while True:
        thumb = thumbnail_ready(image_id=image.pk, height=height, fmt=fmt)
        if thumb is not None:
            return thumb
        made = thumbnails.thumbnails_generate(image=image, heights=wanted, fmt=fmt, encoding="fast")
        if made and fmt in processing.TWO_SPEED_FORMATS:
            refine = functools.partial(enqueue_refine, image_id=image.pk, heights=made, fmt=fmt)
            transaction.on_commit(refine)
        if height in made:
            continue
        if not Image.objects.filter(pk=image.pk).exists():
            raise NotFound("The image was deleted.")
        if clock.now() >= deadline:
            raise ThumbnailNotReady("The thumbnail is still being made; retry shortly.")
        clock.sleep(delay)
        delay = min(delay * 2, 0.25)
