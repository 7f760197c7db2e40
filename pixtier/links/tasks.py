"""Periodic work for links (queued by Celery beat)."""

from celery import shared_task

from pixtier.common.tasks import RETRYING
from pixtier.links import services


@shared_task(**RETRYING)
def purge_expired_links() -> int:
    """Delete link records past their expiry; idempotent (expiry is checked per request)."""
    return services.expiring_links_purge()


@shared_task(**RETRYING)
def flush_link_downloads() -> int:
    """Write downloads of unlimited links counted in Redis to their rows."""
    return services.link_downloads_flush()
