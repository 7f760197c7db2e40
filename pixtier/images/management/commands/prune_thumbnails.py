from typing import Any

from django.core.management.base import BaseCommand

from pixtier.images.thumbnails import thumbnails_prune


class Command(BaseCommand):
    help = "Delete thumbnails of heights no longer in their owner's tier (and abandoned claims)."

    def handle(self, *args: Any, **options: Any) -> None:
        pruned = thumbnails_prune()
        self.stdout.write(f"Pruned {pruned} thumbnail(s).")
