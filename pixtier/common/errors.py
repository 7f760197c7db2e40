"""Errors as JSON ``{"detail": ...}`` with the right status, for DRF and plain Django."""

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.db import OperationalError
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.urls import Resolver404, resolve
from drf_spectacular.utils import inline_serializer
from redis.exceptions import RedisError
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from pixtier.common import exceptions as domain
from pixtier.common.exceptions import (
    CorruptImage,
    ImageTooLarge,
    QuotaExceeded,
    UnsupportedImage,
)

# The body of every error answer, for the schema's error responses.
ERROR_SCHEMA = inline_serializer("Error", {"detail": serializers.CharField()})


logger = logging.getLogger(__name__)

# What a storage outage raises: the local disk, or the object store through botocore.
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "too_large"


class UnsupportedImageType(exceptions.APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_detail = "Only PNG and JPEG images are accepted."
    default_code = "unsupported_image"


class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "This link has expired."
    default_code = "gone"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A backing service is unavailable; try again shortly."
    default_code = "unavailable"


class NotReady(ServiceUnavailable):
    default_detail = "The image is being prepared; retry shortly."


# The one map from domain errors (pixtier.common.exceptions) to HTTP, for DRF views and
# for the lean download views alike (:func:`domain_error_response`).
_DOMAIN: dict[type[domain.DomainError], type[exceptions.APIException]] = {
    domain.NotFound: exceptions.NotFound,
    domain.NotInTier: exceptions.PermissionDenied,
    domain.Gone: Gone,
    domain.NotReady: NotReady,
    domain.NotAuthenticated: exceptions.NotAuthenticated,
    domain.BadRequest: exceptions.ParseError,
}


def _domain(exc: domain.DomainError) -> exceptions.APIException:
    if isinstance(exc, domain.NotInTier) and exc.field:
        return exceptions.ValidationError({exc.field: [str(exc)]})
    for kind in type(exc).__mro__:
        if kind in _DOMAIN:
            return _DOMAIN[kind](str(exc))
    return exceptions.APIException(str(exc))


def domain_error_response(exc: domain.DomainError) -> JsonResponse:
    """A domain error as the JSON answer a DRF view would give (outside DRF)."""
    api = _domain(exc)
    response = _json_error(api.status_code, str(api.detail))
    if api.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        response["Retry-After"] = "5"
    if api.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, domain.DomainError):
        return _domain(exc)
    if isinstance(exc, UnsupportedImage):
        return UnsupportedImageType(str(exc))
    if isinstance(exc, ImageTooLarge):
        return PayloadTooLarge(str(exc))
    if isinstance(exc, QuotaExceeded):
        return exceptions.PermissionDenied(str(exc))
    if isinstance(exc, CorruptImage):
        return exceptions.ValidationError({"file": [str(exc)]})
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge("The request body is too large.")
    if isinstance(exc, TooManyFilesSent):
        return exceptions.ValidationError({"file": ["Send exactly one file."]})
    if isinstance(exc, OperationalError):
        logger.exception("database unavailable")
        return ServiceUnavailable("The database is unavailable; try again shortly.")
    if isinstance(exc, STORAGE_ERRORS):
        logger.exception("storage unavailable")
        return ServiceUnavailable("File storage is unavailable; try again shortly.")
    if isinstance(exc, RedisError):
        # Reads go around the cache (pixtier.common.cache); this is a change that could
        # not drop the cache entries it outdates, so it was not made.
        logger.exception("cache unavailable")
        return ServiceUnavailable("The cache is unavailable; try again shortly.")
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(_translate(exc), context)
    if response is not None and response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        response["Retry-After"] = "5"
    return response


def _json_error(status_code: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status_code)


class ServiceUnavailableMiddleware:
    """Plain Django views (the admin, the API's login page) answer a backing service's
    outage as the API views do: 503 JSON with Retry-After, not a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        return outage_response(exception)


def outage_response(exception: Exception) -> JsonResponse | None:
    """The 503 for a backing service's outage; None for any other exception."""
    if not isinstance(exception, (OperationalError, RedisError, *STORAGE_ERRORS)):
        return None
    unavailable = _translate(exception)
    assert isinstance(unavailable, ServiceUnavailable)
    response = _json_error(unavailable.status_code, str(unavailable.detail))
    response["Retry-After"] = "5"
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(400, "Bad request.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(403, "You do not have permission to perform this action.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    detail = "Not found."
    if not request.path.endswith("/"):
        try:
            resolve(request.path + "/")
        except Resolver404:
            pass
        else:
            detail = f"Not found. Did you mean {request.path}/ (with a trailing slash)?"
    return _json_error(404, detail)


def server_error(request: HttpRequest) -> JsonResponse:
    return _json_error(500, "Internal server error.")
