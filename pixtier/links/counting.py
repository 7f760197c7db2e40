"""Downloads of unlimited links, counted in Redis and written to the database in batches.

A link with a limit is counted in the database itself, one conditional UPDATE per
download (``pixtier.links.services.link_download_count``): that is what makes the limit
exact. A link without one needs no exactness at the moment of the download, only a count
that adds up, so with Redis (``REDIS_URL``) each download is counted there (HINCRBY): in
the round trip of its access decision when that is cached (:func:`pending_tally`), else
in one of its own. And :func:`pending_flush` (Celery beat,
``LINK_DOWNLOADS_FLUSH_SECONDS``) adds the batch to the rows. Reads of a link add what
is still pending (:func:`pending_get`), so the API shows every download at once. Without
Redis, or while it fails, the database is counted directly.
"""

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import redis
from django.conf import settings
from redis.exceptions import RedisError

from pixtier.common import freshness
from pixtier.common.cache import CACHE_ERRORS, cache_failed, cache_usable

logger = logging.getLogger(__name__)

COUNTS = "pixtier:link-downloads"
LAST = "pixtier:link-downloaded-at"

# Takes both hashes in one step: a download counted meanwhile lands in the next batch.
_TAKE = """
local counts = redis.call('HGETALL', KEYS[1])
local last = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return {counts, last}
"""


@dataclass(frozen=True)
class Pending:
    downloads: int
    last_downloaded_at: datetime | None


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def batching() -> bool:
    """Whether unlimited links are counted in Redis now (configured, and not failing)."""
    return bool(settings.REDIS_URL) and cache_usable()


def pending_add(*, link_id: uuid.UUID, now: datetime) -> bool:
    """Count one download of an unlimited link in Redis; False if Redis failed (the
    caller then counts it in the database)."""
    if not batching():
        return False
    field = str(link_id)
    try:
        pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
        pipe.hincrby(COUNTS, field, 1)
        pipe.hset(LAST, field, repr(now.timestamp()))
        pipe.execute()
    except CACHE_ERRORS as exc:
        cache_failed("count", COUNTS, exc)
        return False
    return True


def pending_tally(*, link_id: uuid.UUID, now: datetime) -> freshness.Tally | None:
    """The count :func:`pending_add` makes, to be made instead in the round trip of the
    link's access decision (``freshness.lookup``) when that finds it cached; None when
    downloads are not counted in Redis now, or the cache is not ``REDIS_URL``'s."""
    if not batching() or settings.CACHES["default"].get("LOCATION") != settings.REDIS_URL:
        return None
    return freshness.Tally(counts=COUNTS, last=LAST, field=str(link_id), at=repr(now.timestamp()))


def pending_get(link_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Pending]:
    """Downloads counted in Redis and not yet written to these links' rows."""
    ids = [str(link_id) for link_id in link_ids]
    if not ids or not batching():
        return {}
    try:
        pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
        pipe.hmget(COUNTS, ids)
        pipe.hmget(LAST, ids)
        counts, lasts = pipe.execute()
    except CACHE_ERRORS as exc:
        cache_failed("read", COUNTS, exc)
        return {}
    return {
        uuid.UUID(link_id): Pending(int(count), _when(last))
        for link_id, count, last in zip(ids, counts, lasts, strict=True)
        if count
    }


def pending_take() -> dict[uuid.UUID, Pending]:
    """Remove and return everything pending (the caller writes it to the rows, or gives
    it back with :func:`pending_return`)."""
    if not settings.REDIS_URL:
        return {}
    client = _client(settings.REDIS_URL)
    taken: list[list[bytes]] = client.eval(_TAKE, 2, COUNTS, LAST)  # type: ignore[assignment]
    counts, lasts = taken
    last_by_id = dict(zip(lasts[::2], lasts[1::2], strict=True))
    return {
        uuid.UUID(link_id.decode()): Pending(int(count), _when(last_by_id.get(link_id)))
        for link_id, count in zip(counts[::2], counts[1::2], strict=True)
    }


def pending_return(taken: dict[uuid.UUID, Pending]) -> None:
    """Put back a batch that could not be written, so no download is lost."""
    try:
        pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
        for link_id, pending in taken.items():
            pipe.hincrby(COUNTS, str(link_id), pending.downloads)
            if pending.last_downloaded_at is not None:
                pipe.hsetnx(LAST, str(link_id), repr(pending.last_downloaded_at.timestamp()))
        pipe.execute()
    except RedisError:
        logger.exception("lost %d pending link download counts", len(taken))


def _when(raw: Any) -> datetime | None:
    return None if raw is None else datetime.fromtimestamp(float(raw), tz=UTC)
