"""OpenAPI generation: every operation documents the error answers it can give.

drf-spectacular documents what a view declares; the errors come from layers around it
(authentication, parsing, pagination, throttling, the exception handler), so they are
added here from what the view is made of. A view's own ``@extend_schema`` responses win.
"""

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from pixtier.common.errors import ERROR_SCHEMA

# DRF's field errors ({"field": ["message", ...]}), or {"detail": "message"} for the whole
# request (a body that does not parse, for one).
_BAD_REQUEST = ResolvedComponent(  # type: ignore[no-untyped-call]  # drf-spectacular is untyped
    name="BadRequest",
    type=ResolvedComponent.SCHEMA,
    object="BadRequest",
    schema={
        "type": "object",
        "description": "What is wrong with each field, or a detail about the whole request.",
        "additionalProperties": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        },
    },
)
_WITH_BODY = {"POST", "PUT", "PATCH"}
_UNSAFE = {*_WITH_BODY, "DELETE"}


# What DRF's text fields take, where the field says nothing stricter: no NUL (400), and
# when spaces are trimmed off both ends, something besides them. ("+": drf-spectacular
# offers a blank field as oneOf(this, maxLength 0), and "" must not match both.)
_SPACES = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x10000)) if c.isspace())
_NO_NUL = "^[^\\u0000]+$"
_NOT_ONLY_SPACES = f"^[^\\u0000]*[^\\u0000{_SPACES}][^\\u0000]*$"


class AutoSchema(SpectacularAutoSchema):
    def _map_serializer_field(
        self, field: Any, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(  # type: ignore[no-untyped-call]
            field, direction, bypass_extensions
        )
        text = isinstance(field, serializers.CharField) and schema.get("type") == "string"
        if direction == "request" and text and not {"format", "pattern", "enum"} & set(schema):
            trimmed = field.trim_whitespace and not field.allow_blank
            schema["pattern"] = _NOT_ONLY_SPACES if trimmed else _NO_NUL
        return schema

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)  # type: ignore[arg-type]
        for code, description in self._errors().items():
            if code not in responses:
                responses[code] = self._error_response(code, description)
        return responses

    def _errors(self) -> dict[str, str]:
        auth = self.get_auth()
        signed_in = bool(auth) and {} not in auth
        body = self.method in _WITH_BODY and self.get_request_serializer() is not None
        paginated = self.method == "GET" and getattr(self.view, "pagination_class", None)
        errors = {}
        if body or paginated:
            errors["400"] = "Bad input: the fields at fault, each with what is wrong."
        if signed_in:
            errors["401"] = "Not signed in, or the credentials are not valid (any more)."
            if self.method in _UNSAFE:
                errors["403"] = "A session request without its CSRF token."
        if "{" in self.path:
            errors["404"] = "Not yours, or no such thing."
        if body:
            errors["415"] = "The body is in a media type this operation does not take."
        if any(_throttles(cls, self.method) for cls in getattr(self.view, "throttle_classes", [])):
            errors["429"] = "Too many requests: retry after the Retry-After header's seconds."
        errors["503"] = "A backing service (database, storage) is unavailable; retry shortly."
        return errors

    def _error_response(self, code: str, description: str) -> dict[str, Any]:
        if code == "400":
            self.registry.register_on_missing(_BAD_REQUEST)
            schema = _BAD_REQUEST.ref
        else:
            component = self.resolve_serializer(ERROR_SCHEMA, "response")
            schema = component.ref
        return {"description": description, "content": {"application/json": {"schema": schema}}}


def _throttles(throttle_class: type, method: str) -> bool:
    """Whether the throttle counts requests of ``method`` (see PixtierThrottle.methods)."""
    methods = getattr(throttle_class, "methods", None)
    return not methods or method in methods
