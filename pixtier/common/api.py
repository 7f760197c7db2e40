"""Shared API pieces: the caller, pagination, and the base of byte-serving views."""

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView


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


class BinaryApi(APIView):
    """Base for views that answer with image bytes (errors stay JSON)."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation


BINARY_RESPONSES: dict[Any, Any] = {(200, "image/*"): OpenApiTypes.BINARY, 304: None}
