"""Downloads of unlimited links, counted in Redis and written to the database in batches.

A link with a limit is counted in the database itself, one conditional UPDATE per
download (``pixtier.links.services.link_download_count``): that is what makes the limit
exact. A link without one needs no exactness at the moment of the download, only a count
that adds up, so with Redis (``REDIS_URL``) each download is counted there (HINCRBY): in
the round trip of its access decision when that is cached (:func:`pending_tally`), else
in one of its own. And :func:`pending_flush` (Celery beat,
``LINK_DOWNLOADS_FLUSH_SECONDS``) adds the batch to the rows. Reads of a link add what
is still pending (:func:`pending_get`), so the API shows every download at once.

Without Redis, or while it fails, each process keeps a batch of its own
(:func:`local_add`), written by the download that finds it ``LINK_DOWNLOADS_LOCAL_SECONDS``
old, and when the process exits: a download then asks the database one query, its
decision, not two. Reads in that process add its batch (exact on the embedded server,
one process); other processes see the downloads once written. A process killed without
warning (SIGKILL) loses at most that much of its unlimited links' counts.
"""

import logging
import threading
import time
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


_local: dict[uuid.UUID, Pending] = {}
_local_lock = threading.Lock()
_local_since: list[float] = []  # when the oldest download in the batch was counted


def _merged(one: Pending | None, other: Pending) -> Pending:
    if one is None:
        return other
    lasts = [t for t in (one.last_downloaded_at, other.last_downloaded_at) if t is not None]
    return Pending(one.downloads + other.downloads, max(lasts) if lasts else None)


def local_add(*, link_id: uuid.UUID, now: datetime) -> bool:
    """Count one download in this process's batch; True when the batch is due to be
    written (``pixtier.links.services.link_downloads_flush``)."""
    with _local_lock:
        _local[link_id] = _merged(_local.get(link_id), Pending(1, now))
        if not _local_since:
            _local_since.append(time.monotonic())
        return time.monotonic() - _local_since[0] >= settings.PIXTIER_LINK_DOWNLOADS_LOCAL_SECONDS


def local_take() -> dict[uuid.UUID, Pending]:
    """Remove and return this process's batch."""
    with _local_lock:
        taken = dict(_local)
        _local.clear()
        _local_since.clear()
    return taken


def _local_return(taken: dict[uuid.UUID, Pending]) -> None:
    with _local_lock:
        for link_id, pending in taken.items():
            _local[link_id] = _merged(_local.get(link_id), pending)
        if taken and not _local_since:
            _local_since.append(time.monotonic())


def _local_get(link_ids: list[uuid.UUID]) -> dict[uuid.UUID, Pending]:
    with _local_lock:
        return {link_id: _local[link_id] for link_id in link_ids if link_id in _local}


def pending_tally(*, link_id: uuid.UUID, now: datetime) -> freshness.Tally | None:
    """The count :func:`pending_add` makes, to be made instead in the round trip of the
    link's access decision (``freshness.lookup``) when that finds it cached; None when
    downloads are not counted in Redis now, or the cache is not ``REDIS_URL``'s."""
    if not batching() or settings.CACHES["default"].get("LOCATION") != settings.REDIS_URL:
        return None
    return freshness.Tally(counts=COUNTS, last=LAST, field=str(link_id), at=repr(now.timestamp()))


def pending_get(link_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Pending]:
    """Downloads counted in Redis or in this process and not yet written to these links'
    rows."""
    ids = list(link_ids)
    pending = _local_get(ids)
    if not ids or not batching():
        return pending
    fields = [str(link_id) for link_id in ids]
    try:
        pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
        pipe.hmget(COUNTS, fields)
        pipe.hmget(LAST, fields)
        counts, lasts = pipe.execute()
    except CACHE_ERRORS as exc:
        cache_failed("read", COUNTS, exc)
        return pending
    for link_id, count, last in zip(ids, counts, lasts, strict=True):
        if count:
            pending[link_id] = _merged(pending.get(link_id), Pending(int(count), _when(last)))
    return pending


def pending_take() -> dict[uuid.UUID, Pending]:
    """Remove and return everything pending, in Redis and in this process (the caller
    writes it to the rows, or gives it back with :func:`pending_return`)."""
    pending = local_take()
    if not settings.REDIS_URL:
        return pending
    client = _client(settings.REDIS_URL)
    try:
        taken: list[list[bytes]] = client.eval(_TAKE, 2, COUNTS, LAST)  # type: ignore[assignment]
    except CACHE_ERRORS as exc:  # what Redis holds waits there for the next batch
        cache_failed("take", COUNTS, exc)
        return pending
    counts, lasts = taken
    last_by_id = dict(zip(lasts[::2], lasts[1::2], strict=True))
    for link_id, count in zip(counts[::2], counts[1::2], strict=True):
        key = uuid.UUID(link_id.decode())
        got = Pending(int(count), _when(last_by_id.get(link_id)))
        pending[key] = _merged(pending.get(key), got)
    return pending


def pending_return(taken: dict[uuid.UUID, Pending]) -> None:
    """Put back a batch that could not be written, so no download is lost: in Redis, or
    in this process's batch without it."""
    if not settings.REDIS_URL:
        _local_return(taken)
        return
    try:
        pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
        for link_id, pending in taken.items():
            pipe.hincrby(COUNTS, str(link_id), pending.downloads)
            if pending.last_downloaded_at is not None:
                pipe.hsetnx(LAST, str(link_id), repr(pending.last_downloaded_at.timestamp()))
        pipe.execute()
    except RedisError:
        logger.warning("Redis failed: %d links' pending downloads kept in this process", len(taken))
        _local_return(taken)


def _when(raw: Any) -> datetime | None:
    return None if raw is None else datetime.fromtimestamp(float(raw), tz=UTC)
