"""How every Celery task retries."""

from typing import Any

from pixtier.common.errors import STORAGE_ERRORS

# Every task may run twice (acks_late redelivers one whose worker died), so each is
# idempotent: the thumbnail claims make a second run a no-op.
RETRYING: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": STORAGE_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}
