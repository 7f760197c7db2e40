"""HTTP API for images: list, upload, detail, delete, and the owner links to bytes. What
an image looks like is ``pixtier.images.representation``'s."""

import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pixtier import delivery
from pixtier.accounts.authentication import download_caller
from pixtier.accounts.selectors import request_user
from pixtier.common.api import BINARY_RESPONSES, BinaryApi, NewestFirstPagination
from pixtier.common.errors import ERROR_SCHEMA, PayloadTooLarge
from pixtier.common.throttles import DownloadThrottle, UploadThrottle
from pixtier.images.access import owner_file
from pixtier.images.models import Image
from pixtier.images.negotiation import FORMAT_PARAMETER, FormatRequest
from pixtier.images.processing import CONTENT_TYPES, OUTPUT_FORMATS
from pixtier.images.representation import ImageSerializer, representation_context
from pixtier.images.selectors import image_get, image_list
from pixtier.images.services import image_delete, image_upload

# Multipart framing around the file; a body this much over the limit is refused unread.
_MULTIPART_SLACK = 64 * 1024


class ImageUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="A PNG or JPEG image.")
    title = serializers.CharField(
        max_length=settings.PIXTIER_MAX_TITLE_LENGTH,
        required=False,
        allow_blank=True,
        help_text="Optional; defaults to the file's name without its extension.",
    )


def _default_title(file_name: str | None) -> str:
    stem = Path(file_name or "").stem
    return "".join(ch for ch in stem if ch.isprintable())[: settings.PIXTIER_MAX_TITLE_LENGTH]


class ImageListApi(GenericAPIView[Image]):
    """Your images, newest first. POST a PNG or JPEG (`file`, optional `title`) to upload."""

    name = "Images"
    serializer_class = ImageUploadSerializer
    pagination_class = NewestFirstPagination
    parser_classes = [MultiPartParser]  # a file cannot travel URL-encoded
    throttle_classes = [UploadThrottle]

    def get_queryset(self) -> QuerySet[Image]:
        return image_list(owner=request_user(self.request))

    @extend_schema(responses=ImageSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Your images, newest first (cursor pagination, ``page_size`` up to 100)."""
        page = self.paginate_queryset(self.get_queryset())
        data = ImageSerializer(page, many=True, context=representation_context(request)).data
        return self.get_paginated_response(data)

    @extend_schema(
        request=ImageUploadSerializer,
        responses={
            201: ImageSerializer,
            403: OpenApiResponse(
                ERROR_SCHEMA,
                "A quota of your tier (max_images or max_storage_bytes) would be exceeded; "
                "the message names it and your usage. Nothing is stored.",
            ),
            413: OpenApiResponse(
                ERROR_SCHEMA,
                "The file is over the byte (global or your tier's max_upload_bytes), pixel "
                "or side limit.",
            ),
            415: OpenApiResponse(ERROR_SCHEMA, "Not a PNG or JPEG (the message says what it is)."),
        },
    )
    def post(self, request: Request) -> Response:
        """Upload a PNG or JPEG (multipart field ``file``, optional ``title``)."""
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.PIXTIER_MAX_UPLOAD_BYTES + _MULTIPART_SLACK:
            raise PayloadTooLarge(
                f"The request is {length} bytes; the upload limit is "
                f"{settings.PIXTIER_MAX_UPLOAD_BYTES} bytes."
            )
        if len(request.FILES.getlist("file")) > 1:
            raise exceptions.ValidationError({"file": ["Send exactly one file per upload."]})
        serializer = ImageUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        file = serializer.validated_data["file"]
        title = serializer.validated_data.get("title") or _default_title(file.name)
        image = image_upload(owner=request_user(request), file=file, title=title)
        data = ImageSerializer(image, context=representation_context(request)).data
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": data["url"]})


class ImageDetailApi(APIView):
    """One of your images with the links your tier allows. DELETE removes it for good."""

    name = "Image"

    @extend_schema(responses=ImageSerializer)
    def get(self, request: Request, image_id: uuid.UUID) -> Response:
        """One of your images with the links your tier allows."""
        image = image_get(owner=request_user(request), image_id=image_id)
        return Response(ImageSerializer(image, context=representation_context(request)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, image_id: uuid.UUID) -> Response:
        """Delete the image, its thumbnails and its expiring links."""
        image_delete(image=image_get(owner=request_user(request), image_id=image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageOriginalApi(BinaryApi):
    """The original file, for its owner on tiers with original links."""

    name = "Original"
    throttle_classes = [DownloadThrottle]

    @extend_schema(
        responses={
            **BINARY_RESPONSES,
            (206, "image/*"): OpenApiTypes.BINARY,
            403: OpenApiResponse(ERROR_SCHEMA, "Your tier does not include the original."),
            416: OpenApiResponse(ERROR_SCHEMA, "The range asked for is outside the file."),
        }
    )
    def get(self, request: Request, image_id: uuid.UUID) -> HttpResponseBase:
        """The original file (owner only, tiers with original links; Range supported)."""
        return self.download(request._request, image_id=image_id)

    @classmethod
    def download(cls, request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        return owner_download(cls, request, image_id=kwargs["image_id"], height=None)


# --- Thumbnail formats (SPEC 10) ---------------------------------------------------------

THUMBNAIL_FORMAT_PARAMETERS = [
    OpenApiParameter(
        FORMAT_PARAMETER,
        str,
        OpenApiParameter.QUERY,
        enum=list(OUTPUT_FORMATS),
        description="Force the thumbnail's format; anything else is 400. Without it the "
        "`Accept` header decides: AVIF over WebP over the original's format, by q-value; "
        "only a range naming image/avif or image/webp picks them, `*/*`, `image/*` or no "
        "`Accept` give the original's format. Answers carry `Vary: Accept` and an ETag of "
        "their format's file.",
    ),
]
THUMBNAIL_RESPONSES: dict[Any, Any] = {
    **{(200, media_type): OpenApiTypes.BINARY for media_type in CONTENT_TYPES.values()},
    304: None,
    400: OpenApiResponse(ERROR_SCHEMA, "`format` names no format we serve."),
}


def requested_formats(request: HttpRequest) -> FormatRequest:
    """The format a thumbnail request asks for; raises :class:`UnknownFormat` (400) for a
    ``?format=`` that names none, before anything is looked up."""
    return FormatRequest.read(
        accept=request.META.get("HTTP_ACCEPT"),
        # Only a query string is parsed: a download has none, usually.
        forced=request.GET.get(FORMAT_PARAMETER) if request.META.get("QUERY_STRING") else None,
    )


class ImageThumbnailApi(BinaryApi):
    """A thumbnail, for its owner, at one of the tier's heights."""

    name = "Thumbnail"
    throttle_classes = [DownloadThrottle]

    @extend_schema(
        parameters=THUMBNAIL_FORMAT_PARAMETERS,
        responses={
            **THUMBNAIL_RESPONSES,
            403: OpenApiResponse(ERROR_SCHEMA, "The height is not one of your tier's."),
        },
    )
    def get(self, request: Request, image_id: uuid.UUID, height: int) -> HttpResponseBase:
        """The thumbnail for one of your tier's heights (made on first request if needed),
        in AVIF, WebP or the original's format by `Accept` (or `?format=`)."""
        return self.download(request._request, image_id=image_id, height=height)

    @classmethod
    def download(cls, request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        return owner_download(
            cls,
            request,
            image_id=kwargs["image_id"],
            height=kwargs["height"],
            formats=requested_formats(request),
        )


def owner_download(
    view: type[BinaryApi],
    request: HttpRequest,
    *,
    image_id: uuid.UUID,
    height: int | None,
    formats: FormatRequest | None = None,
) -> HttpResponseBase:
    """Glue: who asks, the decision, the rate limit, the bytes."""
    caller = download_caller(request)
    decision = owner_file(caller=caller, image_id=image_id, height=height, formats=formats)
    view.throttle(request, user_id=caller.user_id)
    return delivery.deliver(request, decision)
