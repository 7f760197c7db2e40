"""JWT refresh with rotation and reuse detection (simplejwt's token_blacklist app).

Each refresh token works once: refreshing answers a new access and a new refresh token
and blacklists the one presented. A refresh token presented a second time was copied
(or its first use raced with a thief's), so every refresh token of that user is
blacklisted: whoever holds the family must sign in again. Access tokens already issued
live out their short lifetime (``JWT_ACCESS_MINUTES``); a password change ends them too
(pixtier.accounts.authentication).
"""

import logging

from django.utils import timezone
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from pixtier.accounts.authentication import stamp_token, token_is_current
from pixtier.accounts.models import User

logger = logging.getLogger(__name__)


class RefreshRefused(Exception):
    """The refresh token may not be exchanged; the message says why, for the client."""


class _SignedRefreshToken(RefreshToken):
    """Signature, expiry and type checked; the blacklist is judged by the rotation."""

    def check_blacklist(self) -> None:
        pass


def refresh_token_issue(*, user: User) -> RefreshToken:
    """A new refresh token for ``user`` (its ``access_token`` is the matching access)."""
    return stamp_token(RefreshToken.for_user(user), user)  # type: ignore[return-value]


def refresh_token_rotate(*, raw: str) -> RefreshToken:
    """Exchange a refresh token, once, for a new one of the same user.

    Raises ``TokenError`` for a forged, expired or non-refresh token, and
    ``RefreshRefused`` for one whose user is gone, closed, changed password or
    already used it.
    """
    presented = _SignedRefreshToken(raw)  # type: ignore[arg-type]  # a str is what it parses
    user_id = presented.get(api_settings.USER_ID_CLAIM)
    user = User.objects.filter(pk=user_id).first() if user_id is not None else None
    if user is None or not user.is_active:
        raise RefreshRefused("No active account found for this token.")
    if not token_is_current(presented, user):
        raise RefreshRefused("The password of this account was changed: sign in again.")
    # The first to blacklist it wins (a unique row per token): a second use is a replay.
    # blacklist() answers get_or_create's pair (simplejwt annotates the row alone).
    blacklisted: tuple[BlacklistedToken, bool] = presented.blacklist()  # type: ignore[assignment]
    if not blacklisted[1]:
        revoked = refresh_tokens_revoke(user=user)
        logger.warning(
            "refresh token reused for user %s: revoked their %d refresh token(s)", user.pk, revoked
        )
        raise RefreshRefused(
            "This refresh token was already used. For safety every refresh token of this "
            "account was revoked: sign in again."
        )
    return refresh_token_issue(user=user)


def refresh_tokens_revoke(*, user: User) -> int:
    """Blacklist every unexpired refresh token of ``user``; returns how many."""
    live = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    rows = [BlacklistedToken(token=token) for token in live]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
