"""Pixtier's own Prometheus metrics; django-prometheus adds requests, latencies and errors.

All are exported at ``/metrics`` (to the holder of ``METRICS_TOKEN`` when it is set).
Under gunicorn with several workers, point ``PROMETHEUS_MULTIPROC_DIR`` at an empty
directory so that ``/metrics`` sums every worker.
"""

import functools
import secrets
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import Counter, Histogram

from pixtier.common.exceptions import CorruptImage, ImageTooLarge, OverBudget, UnsupportedImage

P = ParamSpec("P")
R = TypeVar("R")

UPLOADS = Counter(
    "pixtier_uploads",
    "Uploads that reached the upload service, by outcome: stored, or why they were refused.",
    ["outcome"],
)
THUMBNAILS_GENERATED = Counter(
    "pixtier_thumbnails_generated",
    "Thumbnails made and published (READY), by format.",
    ["format"],
)
THUMBNAIL_GENERATION_SECONDS = Histogram(
    "pixtier_thumbnail_generation_seconds",
    "Time to decode an original and render its missing thumbnails (one decode serves "
    "all of them), by format.",
    ["format"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LINK_DOWNLOADS = Counter(
    "pixtier_link_downloads",
    "Requests to expiring links' public URLs, by outcome.",
    ["outcome"],
)

_UPLOAD_REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (OverBudget, "over_budget"),  # before its base class, ImageTooLarge
    (ImageTooLarge, "too_large"),
    (UnsupportedImage, "unsupported"),
    (CorruptImage, "corrupt"),
)
_LINK_OUTCOMES = {
    200: "served",
    206: "served",
    302: "redirected",  # to a presigned object-store URL
    304: "not_modified",
    403: "forbidden",  # the owner's tier no longer allows it
    404: "invalid",
    410: "gone",  # expired or revoked
    503: "unavailable",
}

# Every known series from the start, so a rate over "0 so far" is 0 rather than missing.
for _outcome in ("stored", "failed", *(name for _, name in _UPLOAD_REFUSALS)):
    UPLOADS.labels(outcome=_outcome)
for _format in ("jpeg", "png"):
    THUMBNAILS_GENERATED.labels(format=_format)
    THUMBNAIL_GENERATION_SECONDS.labels(format=_format)
for _outcome in {*_LINK_OUTCOMES.values(), "refused", "error"}:
    LINK_DOWNLOADS.labels(outcome=_outcome)


def upload_counted(service: Callable[P, R]) -> Callable[P, R]:
    """Count each call of the upload service by its outcome."""

    @functools.wraps(service)
    def counted(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = service(*args, **kwargs)
        except Exception as exc:
            outcome = next((name for kind, name in _UPLOAD_REFUSALS if isinstance(exc, kind)), None)
            UPLOADS.labels(outcome=outcome or "failed").inc()
            raise
        UPLOADS.labels(outcome="stored").inc()
        return result

    return counted


def link_download_counted(*, status_code: int) -> None:
    outcome = _LINK_OUTCOMES.get(status_code) or ("refused" if status_code < 500 else "error")
    LINK_DOWNLOADS.labels(outcome=outcome).inc()


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text; with ``METRICS_TOKEN`` set, only for ``Authorization: Bearer
    <token>`` (the scraper's ``authorization`` setting)."""
    token: str = settings.PIXTIER_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
            refused = JsonResponse(
                {"detail": "The metrics need the scraper's token: Authorization: Bearer <token>."},
                status=401,
            )
            refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return refused
    response: HttpResponse = ExportToDjangoView(request)
    return response
