"""Celery beat forgets what sign-ins leave behind once no one needs it."""

from datetime import UTC, datetime, timedelta
from typing import Any

from axes.models import AccessFailureLog, AccessLog
from django.test import Client
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from pixtier.accounts.models import User
from pixtier.accounts.tasks import purge_sign_in_records
from pixtier.accounts.tokens import refresh_token_issue

PASSWORD = "correct horse battery staple"


def sign_in(username: str, password: str) -> int:
    body = {"username": username, "password": password}
    response = Client(REMOTE_ADDR="192.0.2.9").post(
        "/api/v1/auth/token/", body, content_type="application/json"
    )
    return response.status_code


def test_purging_forgets_expired_refresh_tokens_and_month_old_sign_in_records(
    time_machine: Any, premium_user: User
) -> None:
    time_machine.move_to(datetime(2026, 10, 1, 9, 0, tzinfo=UTC), tick=False)
    assert sign_in("premium", "wrong") == 401
    assert sign_in("premium", PASSWORD) == 200
    old = refresh_token_issue(user=premium_user)
    time_machine.shift(timedelta(days=31))
    assert sign_in("premium", "wrong again") == 401
    current = refresh_token_issue(user=premium_user)

    purge_sign_in_records.apply().get()

    remaining = set(OutstandingToken.objects.values_list("jti", flat=True))
    assert old["jti"] not in remaining
    assert current["jti"] in remaining
    assert not AccessLog.objects.exists()  # the one success, a month ago
    assert AccessFailureLog.objects.count() == 1  # today's failure stays
