"""The shared cache as a shortcut only: reads that miss it, or cannot reach it, go to the
database, which stays the truth.

Redis going down must cost speed, not answers. The settings bound each attempt (socket
timeouts of seconds); after a failure this process leaves the cache alone for a while
(:data:`breaker`).
"""

from redis.exceptions import RedisError

from pixtier.common.breaker import Breaker

# What Django's Redis backend raises when the server is down or stops answering.
CACHE_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)

breaker = Breaker("cache")


def cache_usable() -> bool:
    """False for a few seconds after the cache failed in this process."""
    return breaker.closed()


def cache_failed(action: str, key: str, exc: Exception) -> None:
    """Note a failure: the cache is left alone for a few seconds."""
    breaker.trip(f"{action} {key}", exc)
