"""The Celery app: `celery -A config worker` makes thumbnails, `celery -A config beat`
queues the periodic tasks (CELERY_BEAT_SCHEDULE in settings)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("pixtier")
# Every CELERY_* setting configures the app; the broker is REDIS_URL.
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds pixtier.images.tasks and pixtier.links.tasks through INSTALLED_APPS.
app.autodiscover_tasks()
