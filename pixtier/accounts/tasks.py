"""Periodic work for accounts (queued by Celery beat)."""

from celery import shared_task
from django.core.management import call_command

from pixtier.common.tasks import RETRYING

# How long django-axes' records of sign-ins and failures are kept for the admin.
SIGN_IN_RECORD_DAYS = 30


@shared_task(**RETRYING)
def purge_sign_in_records() -> None:
    """Forget refresh-token records past their expiry (simplejwt's blacklist) and sign-in
    records older than SIGN_IN_RECORD_DAYS; idempotent, and no lockout depends on them."""
    call_command("flushexpiredtokens", verbosity=0)
    call_command("axes_reset_logs", age=SIGN_IN_RECORD_DAYS)
    call_command("axes_reset_failure_logs", age=SIGN_IN_RECORD_DAYS)
