"""JWT bearer authentication that also refuses tokens issued before a password change.

Tokens carry the user's ``credential_stamp`` (pixtier.accounts.models) in the ``cred``
claim, set at sign-in and kept through refreshes. A token whose stamp differs from the
user's current one is refused, access tokens included, on the very next request: the
stamp is read with the user this class loads anyway, so the check costs no query.
Deactivated users are refused by simplejwt's own check (``CHECK_USER_IS_ACTIVE``).
"""

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.tokens import AccessToken, Token

from pixtier.accounts.models import User

CREDENTIAL_CLAIM = "cred"
CREDENTIALS_CHANGED = "The password of this account was changed: sign in again."


def stamp_token(token: Token, user: User) -> Token:
    token[CREDENTIAL_CLAIM] = user.credential_stamp
    return token


def access_token_issue(*, user: User) -> AccessToken:
    """An access token alone (scripts, tests, benchmarks); clients sign in for a pair."""
    token = AccessToken.for_user(user)
    stamp_token(token, user)
    return token


def token_is_current(token: Token | dict[str, Any], user: User) -> bool:
    """Whether ``token`` was issued since the user's last password change."""
    return bool(user.credential_stamp) and token.get(CREDENTIAL_CLAIM) == user.credential_stamp


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token: Token) -> Any:
        user = super().get_user(validated_token)
        if not token_is_current(validated_token, user):  # type: ignore[arg-type]
            raise AuthenticationFailed(CREDENTIALS_CHANGED, code="credentials_changed")
        return user


class JWTScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call,unused-ignore]
    """The OpenAPI bearer scheme, as for simplejwt's own class."""

    target_class = "pixtier.accounts.authentication.JWTAuthentication"
