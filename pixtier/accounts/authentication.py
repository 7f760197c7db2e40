"""How a request proves who it is: a JWT bearer (or a session, through DRF).

Tokens carry the user's ``credential_stamp`` (pixtier.accounts.models) in the ``cred``
claim, set at sign-in and kept through refreshes. A token whose stamp differs from the
user's current one is refused, access tokens included, on the very next request.
Deactivated users are refused too.

Every check of the user behind a token lives in :meth:`JWTAuthentication.check`. The API
views call it with the user row ``get_user`` loads; the download path calls it with the
identity columns its one query (or its cached decision) read, so each check applies to
downloads too without a query of its own. A cached identity is outdated by any change of
the user's tier, ``is_active``, password or credential stamp (``pixtier.common.guards``).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.http import HttpRequest
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotAuthenticated
from rest_framework.settings import api_settings as drf_settings
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, Token

from pixtier.accounts.models import User

CREDENTIAL_CLAIM = "cred"
CREDENTIALS_CHANGED = "The password of this account was changed: sign in again."

# The user's columns a download reads (and caches) to check its caller; add a column here
# when a check in JWTAuthentication.check needs it. Never a secret: they may be cached.
IDENTITY_FIELDS = frozenset(
    {"id", "username", "is_active", "is_staff", "is_superuser", "tier_id", "credential_stamp"}
)


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


# Tokens whose signature this process has checked (see JWTAuthentication.validated_once).
_VALIDATED: dict[bytes, Token] = {}
_VALIDATED_MAX = 4096


@cache
def identity_fields() -> tuple[str, ...]:
    """IDENTITY_FIELDS in the model's column order (what ``Model.from_db`` expects)."""
    return tuple(f.attname for f in User._meta.concrete_fields if f.attname in IDENTITY_FIELDS)


def identity_user(values: tuple[Any, ...]) -> User:
    """A user with only the identity columns loaded (others load if touched)."""
    return User.from_db(None, identity_fields(), values)


@dataclass(frozen=True)
class Caller:
    """Who asks, before their row is read: the id, and how to check the row once read
    (it raises the authentication error to answer)."""

    user_id: int
    check: Callable[[User | None], None]


def _session_check(user: User | None) -> None:
    if user is None or not user.is_active:
        raise AuthenticationFailed("User is inactive", code="user_inactive")


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token: Token) -> Any:
        user: User | None = User.objects.filter(pk=self.user_id(validated_token)).first()
        self.check(user, validated_token)
        return user

    @staticmethod
    def user_id(validated_token: Token) -> Any:
        try:
            return validated_token[api_settings.USER_ID_CLAIM]
        except KeyError:
            raise InvalidToken("Token contained no recognizable user identification") from None

    def check(self, user: User | None, validated_token: Token) -> None:
        """May ``user`` (possibly a cached identity: :data:`IDENTITY_FIELDS` only) still
        use this token? Raises the 401 to answer if not."""
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if not token_is_current(validated_token, user):
            raise AuthenticationFailed(CREDENTIALS_CHANGED, code="credentials_changed")

    def validated_once(self, raw: bytes) -> Token:
        """The validated token, its signature checked once per process: the same bytes
        always check the same, so later requests only check its expiry again (decoding
        was a sixth of a warm download's CPU). What may change since, the user's account
        and password, :meth:`check` reads afresh on every request."""
        token = _VALIDATED.get(raw)
        if token is not None and time.time() < float(token.get("exp", 0)):
            return token
        token = self.get_validated_token(raw)
        if len(_VALIDATED) >= _VALIDATED_MAX:
            _VALIDATED.clear()
        _VALIDATED[raw] = token
        return token

    def caller(self, request: HttpRequest) -> Caller | None:
        """The caller a bearer token names (its signature and expiry checked, the user
        not read yet), or None without a bearer header. Raises on a bad token."""
        header = self.get_header(request)  # type: ignore[arg-type]
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            return None
        token = self.validated_once(raw)
        try:
            user_id = int(self.user_id(token))
        except (TypeError, ValueError):
            raise InvalidToken("Token contained no recognizable user identification") from None
        return Caller(user_id, lambda user: self.check(user, token))


def session_caller(user: User) -> Caller:
    """The caller of a signed-in session (the session middleware has read the user)."""
    return Caller(user.pk, _session_check)


def download_caller(request: HttpRequest) -> Caller:
    """Who asks for a download, through the project's authentication classes in their
    order (``REST_FRAMEWORK``): a bearer token (its user not read yet) or a session.
    Raises NotAuthenticated (401) without either."""
    forced = getattr(request, "_force_auth_user", None)  # DRF's test client
    if forced is not None:
        return session_caller(forced)
    classes: Any = drf_settings.DEFAULT_AUTHENTICATION_CLASSES
    for authentication_class in classes:
        authenticator = authentication_class()
        if isinstance(authenticator, JWTAuthentication):
            caller = authenticator.caller(request)
            if caller is not None:
                return caller
        elif isinstance(authenticator, SessionAuthentication):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated and user.is_active:
                return session_caller(user)
    raise NotAuthenticated()


class JWTScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call,unused-ignore]
    """The OpenAPI bearer scheme, as for simplejwt's own class."""

    target_class = "pixtier.accounts.authentication.JWTAuthentication"
