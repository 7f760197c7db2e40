"""Brute-force protection for every password form: what django-axes answers when it
locks a sign-in out, and the client address it counts by.

django-axes (settings ``AXES_*``) counts failed sign-ins per username and per client
address, whichever form they come through: the admin's login, the browsable API's
login and the token endpoint. After ``LOGIN_FAILURE_LIMIT`` failures the username (or
the address) is locked out for ``LOGIN_COOLOFF_MINUTES``, right password or not. Forms
get an HTML page saying so, the token endpoint a JSON 429; both carry ``Retry-After``.
"""

import ipaddress
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle

# Views whose lockout answer is a page, not JSON.
_FORM_VIEWS = frozenset({"admin:login", "rest_framework:login"})


def client_address(request: HttpRequest) -> str | None:
    """The client address, read as the rate limits read it (``REST_FRAMEWORK
    ["NUM_PROXIES"]``): a forged X-Forwarded-For changes nothing. None when there is no
    address (a test client's login) or what stands there is not one (a header written by
    a client that reached gunicorn past the proxy): django-axes stores it as an address."""
    for candidate in (BaseThrottle().get_ident(request), request.META.get("REMOTE_ADDR")):  # type: ignore[arg-type]
        try:
            return str(ipaddress.ip_address(str(candidate or "").strip()))
        except ValueError:
            continue
    return None


def cooloff_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_message() -> str:
    minutes = max(1, round(cooloff_seconds() / 60))
    return (
        "Too many failed sign-ins for this account or from this address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """django-axes' ``AXES_LOCKOUT_CALLABLE``: 429 with ``Retry-After``, as a page for
    the login forms and as JSON ``{"detail"}`` for the API."""
    match = request.resolver_match
    response: HttpResponse
    if match is not None and match.view_name in _FORM_VIEWS:
        response = render(
            request,
            "pixtier/locked_out.html",
            {"message": lockout_message(), "title": "Sign-in locked"},
            status=429,
        )
    else:
        response = JsonResponse({"detail": lockout_message()}, status=429)
    response["Retry-After"] = str(cooloff_seconds())
    return response


class LockoutBackend(AxesStandaloneBackend):  # type: ignore[misc,unused-ignore]
    """django-axes' backend, for sign-ins that come with a request. Every form and the
    token endpoint pass theirs; a call without one (the test client's ``login()``, a
    script) has no client to count, and goes on to the password check as before."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if request is None:
            return None
        user: AbstractBaseUser | None = super().authenticate(request, username, password, **kwargs)
        return user
