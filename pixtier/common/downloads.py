"""Downloads skip the middleware they do not need.

A download's own work is one access decision and the file (SPEC 8). Behind it, Django's
whole middleware stack would cost as much again (measured: about half of a warm download's
CPU): sessions, CSRF, messages, django-axes and the per-view Prometheus breakdown do
nothing for a GET of image bytes. This middleware sits after the ones every answer needs
(the request-size check, Prometheus' totals and latency, ``SecurityMiddleware``'s
headers; WhiteNoise's static files go before it) and answers GET and HEAD of a download
view (``BinaryApi``, marked ``binary``) itself; every other request goes on down the
stack.

A request that may be signed in by its session cookie (no ``Authorization`` header) goes
down the stack too: the session and authentication middleware read its user. Outages
answer 503 as everywhere else; ``X-Frame-Options`` is set as for every answer.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.urls import Resolver404, get_resolver

from pixtier.common.errors import outage_response

Respond = Callable[[HttpRequest], HttpResponseBase]


class DownloadMiddleware:
    def __init__(self, get_response: Respond) -> None:
        self.get_response = get_response
        self.frame_options = XFrameOptionsMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method not in ("GET", "HEAD") or (
            settings.SESSION_COOKIE_NAME in request.COOKIES
            and "HTTP_AUTHORIZATION" not in request.META
        ):
            return self.get_response(request)
        try:
            match = get_resolver().resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        if not getattr(match.func, "binary", False):
            return self.get_response(request)
        request.resolver_match = match
        try:
            response = match.func(request, *match.args, **match.kwargs)
        except Exception as exc:
            unavailable = outage_response(exc)
            if unavailable is None:
                raise
            response = unavailable
        return self.frame_options.process_response(request, response)
