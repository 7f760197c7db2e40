from typing import Any

from django.core.management.base import BaseCommand

from pixtier.links.services import expiring_links_purge


class Command(BaseCommand):
    help = "Delete expiring-link records past their expiry (expiry is enforced per request)."

    def handle(self, *args: Any, **options: Any) -> None:
        purged = expiring_links_purge()
        self.stdout.write(f"Purged {purged} expired link(s).")
