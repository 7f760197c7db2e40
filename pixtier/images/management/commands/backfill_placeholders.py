from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pixtier.images.backfills import image_placeholders_backfill
from pixtier.images.models import Image
from pixtier.images.tasks import backfill_placeholders


class Command(BaseCommand):
    help = (
        "Compute the placeholder (BlurHash) and dominant colour of images stored before "
        "they existed. Safe to run on a live site, and again: it only fills empty ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Queue the work for the Celery workers (in batches) instead of doing it here.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["queue"]:
            backfill_placeholders.delay()
            self.stdout.write("Queued the placeholder backfill for the workers.")
            return
        before = Image.objects.filter(placeholder="").count()
        last = image_placeholders_backfill()
        while last is not None:
            last = image_placeholders_backfill(after=last)
        left = Image.objects.filter(placeholder="").count()
        self.stdout.write(f"Gave {before - left} image(s) a placeholder; {left} could not be read.")
