"""Shared API pieces: the caller, pagination, and the base of byte-serving views."""

import math
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from drf_spectacular.types import OpenApiTypes
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from pixtier.common.errors import domain_error_response
from pixtier.common.exceptions import DomainError


class NewestFirstPagination(CursorPagination):
    ordering = ("-uploaded_at", "-id")
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    invalid_cursor_message = "This cursor is not valid; follow the next and previous links."
    page_size_query_description = "Results per page, 1 or more; above 100 counts as 100."

    def get_page_size(self, request: Request) -> int:
        """``page_size`` if given: a whole number of at least 1 (else 400), capped at 100."""
        raw = request.query_params.get(self.page_size_query_param or "")
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            raise exceptions.ValidationError(
                {"page_size": [f"Send a whole number of 1 or more (at most {self.max_page_size})."]}
            )
        return min(int(raw), self.max_page_size)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:  # DRF says 404; it is bad input
            raise exceptions.ValidationError({"cursor": [self.invalid_cursor_message]}) from exc

    def paginate_queryset(
        self,
        queryset: QuerySet[Any, Any] | Sequence[Any],
        request: Request,
        view: APIView | None = None,
    ) -> list[Any] | None:
        try:
            return super().paginate_queryset(queryset, request, view)
        except DjangoValidationError as exc:  # a well-formed cursor with a nonsense position
            raise exceptions.ValidationError({"cursor": [self.invalid_cursor_message]}) from exc


class NewestLinksFirstPagination(NewestFirstPagination):
    ordering = ("-created_at", "-id")


class FirstRendererNegotiation(BaseContentNegotiation):
    """For views that answer with image bytes: success is the file whatever the client
    accepts, and errors are JSON, so ``Accept: image/*`` never yields a 406."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class _ThrottleRequest:
    """What a throttle reads of a request (the caller and the client's address)."""

    def __init__(self, request: HttpRequest, user_id: int | None) -> None:
        self.META = request.META
        self.headers = request.headers
        self.method = request.method
        self.user = _Caller(user_id) if user_id is not None else AnonymousUser()


class _Caller:
    is_authenticated = True

    def __init__(self, pk: int) -> None:
        self.pk = pk


def api_error_response(exc: exceptions.APIException) -> JsonResponse:
    """An APIException answered as DRF's exception handler would, outside DRF."""
    data = exc.detail if isinstance(exc.detail, (list, dict)) else {"detail": exc.detail}
    response = JsonResponse(data, status=exc.status_code, safe=False)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    wait = getattr(exc, "wait", None)
    if wait is not None:
        response["Retry-After"] = str(math.ceil(wait))
    return response


class BinaryApi(APIView):
    """Base for views that answer with image bytes (errors stay JSON).

    GET and HEAD skip DRF's request machinery (measured: most of a warm download's time):
    they go straight to :meth:`download`, which authenticates with the project's
    classes itself, calls one access decision and delivers its answer; domain errors
    become HTTP in ``pixtier.common.errors``. DRF still documents the view (the schema
    reads the class) and answers every other method (405, OPTIONS).
    """

    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        drf_view: Any = super().as_view(**initkwargs)

        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in ("GET", "HEAD"):
                response: HttpResponseBase = drf_view(request, *args, **kwargs)
                return response
            try:
                return cls.download(request, **kwargs)
            except DomainError as exc:
                return cls.answered(domain_error_response(exc))
            except exceptions.APIException as exc:
                return cls.answered(api_error_response(exc))

        for name in ("cls", "initkwargs", "csrf_exempt", "view_class", "view_initkwargs"):
            if hasattr(drf_view, name):
                setattr(view, name, getattr(drf_view, name))
        view.__name__ = drf_view.__name__
        view.__doc__ = cls.__doc__
        view.binary = True  # type: ignore[attr-defined]  # for pixtier.common.downloads
        return view

    @classmethod
    def download(cls, request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        raise NotImplementedError

    @classmethod
    def answered(cls, response: HttpResponseBase) -> HttpResponseBase:
        """Every answer of :meth:`download` that is an error passes here."""
        return response

    @classmethod
    def throttle(cls, request: HttpRequest, *, user_id: int | None) -> None:
        """Raise Throttled when the view's rate limit says so."""
        for throttle_class in cls.throttle_classes:
            throttle = throttle_class()
            if throttle.rate is None:  # type: ignore[attr-defined]
                continue
            if not throttle.allow_request(_ThrottleRequest(request, user_id), None):  # type: ignore[arg-type]
                raise exceptions.Throttled(throttle.wait())


BINARY_RESPONSES: dict[Any, Any] = {(200, "image/*"): OpenApiTypes.BINARY, 304: None}
