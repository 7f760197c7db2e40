import atexit
import logging

from django.apps import AppConfig
from django.db import DatabaseError

logger = logging.getLogger(__name__)


class LinksConfig(AppConfig):
    name = "pixtier.links"
    label = "links"

    def ready(self) -> None:
        # The downloads this process counted without Redis are written as it ends
        # (pixtier.links.counting).
        atexit.register(_flush_at_exit)


def _flush_at_exit() -> None:
    from pixtier.links.services import link_downloads_flush

    try:
        link_downloads_flush(local_only=True)
    except DatabaseError:
        logger.exception("link downloads counted in this process were lost at exit")
