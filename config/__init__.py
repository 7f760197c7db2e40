"""Project configuration; the Celery app loads with Django so tasks queue from any process."""

from config.celery import app as celery_app

__all__ = ("celery_app",)
