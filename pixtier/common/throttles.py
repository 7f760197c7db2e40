"""Rate limits: uploads, link creation and owner downloads per user; public link downloads
and token requests per client IP (brute force).

DRF throttles whose rates are read from ``settings.PIXTIER_THROTTLE_RATES`` on every
request, so they follow the environment and tests can set them. Their counters live in
the default cache: local memory embedded, Redis (shared by every process) scaled out. A
cache that cannot be reached lets the request through: rate limiting must not take the
API down with it.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from pixtier.common.cache import CACHE_ERRORS, cache_failed, cache_usable

logger = logging.getLogger(__name__)


class PixtierThrottle(SimpleRateThrottle):
    """A rate from PIXTIER_THROTTLE_RATES[scope], for the listed methods (all if none)."""

    methods: frozenset[str] = frozenset()

    def get_rate(self) -> str | None:
        try:
            rate: str | None = settings.PIXTIER_THROTTLE_RATES[self.scope or ""]
        except KeyError:
            raise ImproperlyConfigured(f"PIXTIER_THROTTLE_RATES has no {self.scope!r}") from None
        return rate

    def applies_to(self, method: str) -> bool:
        return not self.methods or method in self.methods

    def allow_request(self, request: Request, view: Any) -> bool:
        # Not while the cache failed moments ago either: a Redis that hangs would cost
        # every request its socket timeout (pixtier.common.cache).
        if not self.applies_to(request.method or "") or not cache_usable():
            return True
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            cache_failed("throttle", self.scope or "", exc)
            logger.warning("rate limit %s not applied: the cache is unavailable", self.scope)
            return True


class PerUserThrottle(PixtierThrottle):
    """Counted per signed-in user (per client IP for anyone else)."""

    def get_cache_key(self, request: Request, view: Any) -> str:
        user = request.user
        ident = f"user-{user.pk}" if user and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PerClientThrottle(PixtierThrottle):
    """Counted per client IP (see REST_FRAMEWORK["NUM_PROXIES"])."""

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UploadThrottle(PerUserThrottle):
    scope = "uploads"
    methods = frozenset({"POST"})


class LinkCreationThrottle(PerUserThrottle):
    scope = "link_creation"
    methods = frozenset({"POST"})


class DownloadThrottle(PerUserThrottle):
    """Owner links: originals and thumbnails."""

    scope = "downloads"


class LinkDownloadThrottle(PerClientThrottle):
    """Expiring links' public downloads (no one is signed in there)."""

    scope = "link_downloads"


class TokenThrottle(PerClientThrottle):
    """Username and password guesses at the token endpoint."""

    scope = "token"
