"""Cached access decisions that are fresh by construction.

Every cached decision belongs to an owner (whose images it serves) and is stamped with
two versions read *before* the database was: the owner's and everyone's. A write that
may take access away calls :func:`access_revoked` inside its transaction; that gives the
owner (or everyone) a new random version and marks it *busy* until the transaction ends:

- entries stamped with the old version never match again;
- while busy, readers neither trust nor store entries, so a request that read the
  database just before the commit cannot put the old answer back (the read-before-commit
  window): its stamp is the old version, or it saw the mark;
- after the commit the version changes once more and the mark goes (the mark also
  expires by itself after :data:`WRITE_SECONDS`, should the process die first).

A write that cannot reach Redis raises, so its transaction rolls back: never a change
made but still served. Reads that cannot reach it go to the database.

Only Redis (shared by every process) holds decisions; with any other cache nothing is
cached and every decision reads the database.
"""

import logging
import pickle
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction

from pixtier.common.cache import CACHE_ERRORS, breaker

logger = logging.getLogger(__name__)

PREFIX = "pixtier:access:"
EVERYONE = "*"
# How long a write may keep readers off the cache if it never says it ended.
WRITE_SECONDS = 60
# Above this many owners, one write bumps everyone's version instead.
MAX_OWNERS = 200

# One round trip. Reads the entry (its stamps, owner and value), the owner (from the entry,
# else from the owner hint kept for its key, else as the caller says; none for entries
# that are not ``owned``), and the current versions and busy marks of everyone and of that
# owner. Answers 0 while a write is in flight; the value alone when it is fresh (or {value}
# once the tally, if asked for, is counted); else what to stamp a value read now with.
_READ = """
local e = redis.call('HMGET', KEYS[1], 'o', 'g', 'u', 'd')
local owner = ''
if ARGV[3] == '1' then
  owner = e[1] or redis.call('GET', KEYS[2]) or ARGV[2]
end
local p = ARGV[1]
local g = redis.call('MGET', p .. 'v:*', p .. 'b:*')
local u = {false, false}
if owner ~= '' then u = redis.call('MGET', p .. 'v:' .. owner, p .. 'b:' .. owner) end
if g[2] or u[2] then return 0 end
if e[4] and g[1] and e[2] == g[1] and (owner == '' or (u[1] and e[3] == u[1])) then
  if KEYS[3] then
    redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
    redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
    return {e[4]}
  end
  return e[4]
end
return {g[1], u[1], owner}
"""


def _redis() -> Any:
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    # Kept on the backend: Django's get_client() builds a new client object (with its
    # table of response callbacks) on every call, a third of a warm decision's CPU.
    client = getattr(backend, "_pixtier_client", None)
    if client is None:
        client = backend._cache.get_client(write=True)
        backend._pixtier_client = client  # type: ignore[attr-defined]
    return client


def enabled() -> bool:
    """Whether decisions may be cached at all (the default cache is Redis)."""
    return _redis() is not None


@dataclass(frozen=True)
class Stamp:
    """The versions current before the database was read; ``owner`` None when the owner
    was not known then (the entry cannot be stored this time, only the owner hint)."""

    everyone: bytes
    owner: bytes | None


@dataclass(frozen=True)
class Lookup:
    value: Any  # the cached value when fresh, else None
    stamp: Stamp | None  # what to store a value read now with (None: do not store)
    tallied: bool = False  # the lookup's tally was counted (only with a fresh value)


MISS = Lookup(None, None)


@dataclass(frozen=True)
class Tally:
    """A count to make in the lookup's own round trip when, and only when, the value is
    fresh: field ``field`` of the hash ``counts`` goes up by one, and is set to ``at`` in
    the hash ``last``."""

    counts: str
    last: str
    field: str
    at: str


_reading = threading.local()


def _reader() -> Any:
    """This thread's own connection for lookups (None without Redis). A pooled client
    takes a connection from its pool and gives it back on every command: measured, a
    third of a lookup's CPU."""
    pooled = _redis()
    if pooled is None:
        return None
    reader = getattr(_reading, "client", None)
    if reader is None or reader.connection_pool is not pooled.connection_pool:
        reader = redis.Redis(connection_pool=pooled.connection_pool, single_connection_client=True)
        _reading.client = reader
        _reading.script = reader.register_script(_READ)
    return reader


def lookup(
    key: str, *, owner_id: int | None = None, owned: bool = True, tally: Tally | None = None
) -> Lookup:
    """The fresh cached value of ``key``, or the stamp to store one read now.

    ``owned`` entries depend on their owner's version as well as everyone's; the owner is
    ``owner_id`` when the caller knows it, else the one remembered for ``key``. A
    ``tally`` is counted with a fresh value (``Lookup.tallied``), never otherwise.
    """
    if not breaker.closed():
        return MISS
    try:
        # A new reader connects at once: inside the try, as every command.
        if _reader() is None:
            return MISS
        keys = [PREFIX + "e:" + key, PREFIX + "o:" + key]
        args = [PREFIX, "" if owner_id is None else str(owner_id), "1" if owned else ""]
        if tally is not None:
            keys += [tally.counts, tally.last]
            args += [tally.field, tally.at]
        got = _reading.script(keys=keys, args=args)
        if got == 0:
            return MISS  # a write is in flight
        if isinstance(got, bytes):
            return Lookup(pickle.loads(got), None)
        if len(got) == 1:
            return Lookup(pickle.loads(got[0]), None, tallied=True)
        now_g, now_u, owner = got
        if now_g is None or (owner and now_u is None):
            return _start(_reading.client, now_g, owner, now_u)
        return Lookup(None, Stamp(now_g, now_u if owner else None))
    except CACHE_ERRORS as exc:
        breaker.trip(f"lookup {key}", exc)
        return MISS


def _start(client: Any, now_g: bytes | None, owner: bytes, now_u: bytes | None) -> Lookup:
    """Give versions to scopes that have none yet (new, or lost by Redis): random, so no
    entry stamped before can ever match them. Returns the stamp to store with."""
    scopes = [EVERYONE] if now_g is None else []
    if owner and now_u is None:
        scopes.append(owner.decode())
    pipe = client.pipeline(transaction=False)
    for scope in scopes:
        pipe.set(PREFIX + "v:" + scope, secrets.token_hex(8), nx=True)
        pipe.get(PREFIX + "v:" + scope)
    current = dict(zip(scopes, pipe.execute()[1::2], strict=True))
    now_g = current.get(EVERYONE, now_g)
    if owner:
        now_u = current.get(owner.decode(), now_u)
    if now_g is None or (owner and now_u is None):
        return MISS
    return Lookup(None, Stamp(now_g, now_u if owner else None))


def store(key: str, value: Any, stamp: Stamp | None, *, owner_id: int | None, timeout: int) -> None:
    """Cache ``value`` read after ``stamp`` was taken, for ``owner_id`` (None: everyone's
    version alone decides), for at most ``timeout`` seconds."""
    if stamp is None or timeout <= 0 or not breaker.closed():
        return
    client = _redis()
    if client is None:
        return
    try:
        pipe = client.pipeline(transaction=False)
        if owner_id is not None:
            # Which owner a key belongs to never changes (a link's or an image's owner).
            pipe.set(PREFIX + "o:" + key, str(owner_id), ex=timeout)
        if owner_id is None or stamp.owner is not None:
            entry = PREFIX + "e:" + key
            fields = {
                "o": "" if owner_id is None else str(owner_id),
                "g": stamp.everyone,
                "u": stamp.owner or b"",
                "d": pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL),
            }
            pipe.delete(entry)
            pipe.hset(entry, mapping=fields)
            pipe.expire(entry, timeout)
        pipe.execute()
    except CACHE_ERRORS as exc:
        breaker.trip(f"store {key}", exc)


def access_revoked(*, owner_ids: Iterable[int] = (), everyone: bool = False) -> None:
    """Outdate every cached decision of these owners (or of everyone). Call it inside the
    transaction of the write that may take access away, before it commits.

    Raises the cache's error when Redis cannot be reached, even while reads skip it: the
    write must then roll back rather than be made but still served from the cache.
    """
    if not _caching():
        return
    owners = set(owner_ids)
    if not everyone and not owners:
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("access_revoked() belongs inside the write's transaction.atomic()")
    scopes = [EVERYONE] if everyone or len(owners) > MAX_OWNERS else [str(o) for o in owners]
    _bump(scopes, busy=True)
    transaction.on_commit(lambda: _ended(scopes), robust=True)


def _caching() -> bool:
    seconds = max(settings.PIXTIER_DOWNLOAD_CACHE_SECONDS, settings.PIXTIER_TIER_CACHE_SECONDS)
    return seconds > 0 and _redis() is not None


def _bump(scopes: list[str], *, busy: bool) -> None:
    pipe = _redis().pipeline(transaction=True)
    for scope in scopes:
        pipe.set(PREFIX + "v:" + scope, secrets.token_hex(8))
        if busy:
            pipe.set(PREFIX + "b:" + scope, "1", ex=WRITE_SECONDS)
        else:
            pipe.delete(PREFIX + "b:" + scope)
    pipe.execute()


def _ended(scopes: list[str]) -> None:
    # A new version once more (a transaction that outlived its mark may have let a reader
    # store what it read before the commit), and readers may use the cache again.
    try:
        _bump(scopes, busy=False)
    except CACHE_ERRORS as exc:
        logger.warning(
            "access versions %s not released (%r): busy for %d s", scopes, exc, WRITE_SECONDS
        )
