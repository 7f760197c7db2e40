"""A circuit breaker: after a backing service fails, this process leaves it alone for a
while, so a service that hangs rather than refuses costs one slow request per interval,
not every request. Used for the cache (Redis) and the Celery broker."""

import logging
import time

logger = logging.getLogger(__name__)


class Breaker:
    def __init__(self, name: str, *, seconds: float = 10.0) -> None:
        self.name = name
        self.seconds = seconds
        self.open_until = 0.0

    def closed(self) -> bool:
        """True while the service may be tried (no failure in the last ``seconds``)."""
        return time.monotonic() >= self.open_until

    def trip(self, what: str, exc: BaseException) -> None:
        """Note a failure: the service is left alone for ``seconds``."""
        self.open_until = time.monotonic() + self.seconds
        logger.warning(
            "%s unavailable (%s: %r); leaving it alone for %.0f s",
            self.name,
            what,
            exc,
            self.seconds,
        )

    def reset(self) -> None:
        self.open_until = 0.0
