"""HTTP API for images: list, upload, detail, delete, and the owner links to bytes."""

import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from pixtier import delivery
from pixtier.accounts.authentication import download_caller
from pixtier.accounts.selectors import Capabilities, request_user, tier_capabilities
from pixtier.common.api import BINARY_RESPONSES, BinaryApi, NewestFirstPagination
from pixtier.common.errors import ERROR_SCHEMA, PayloadTooLarge
from pixtier.common.throttles import DownloadThrottle, UploadThrottle
from pixtier.images.access import owner_file
from pixtier.images.models import Image
from pixtier.images.processing import thumbnail_size
from pixtier.images.selectors import image_get, image_list
from pixtier.images.services import image_delete, image_upload

# Multipart framing around the file; a body this much over the limit is refused unread.
_MULTIPART_SLACK = 64 * 1024
# Stands in for an image id when a URL is reversed once per request; never a real id
# (uuid4 ids carry version bits this one lacks).
_URL_PROBE = uuid.UUID(int=0)


class ImageUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="A PNG or JPEG image.")
    title = serializers.CharField(
        max_length=settings.PIXTIER_MAX_TITLE_LENGTH,
        required=False,
        allow_blank=True,
        help_text="Optional; defaults to the file's name without its extension.",
    )


class ThumbnailLinkSerializer(serializers.Serializer[Any]):
    height = serializers.IntegerField(help_text="The tier height H.")
    width = serializers.IntegerField(help_text="Width of the file (no upscaling).")
    url = serializers.URLField()


_Template = tuple[str, str]  # an absolute URL split around the image id


class _Links:
    """An image's links for one request and tier (and its time zone).

    Each route is reversed once with a stand-in id, then only the id is filled in: a
    reverse() per URL was 40 % of the time of a page of 20 images.
    """

    def __init__(self, request: Request, capabilities: Capabilities) -> None:
        def template(name: str, **kwargs: Any) -> _Template:
            url = reverse(name, kwargs={"image_id": _URL_PROBE, **kwargs}, request=request)
            before, after = url.rsplit(str(_URL_PROBE), 1)
            return before, after

        self._detail = template("image-detail")
        self._thumbnails = [
            (height, template("image-thumbnail", height=height)) for height in capabilities.heights
        ]
        self._original = template("image-original") if capabilities.original_link else None
        self._links = template("image-expiring-links") if capabilities.expiring_links else None
        # uploaded_at's field, with the request's time zone looked up once, not per image.
        self.datetime = serializers.DateTimeField(default_timezone=timezone.get_current_timezone())

    def url(self, image: Image, pk: str = "") -> str:
        before, after = self._detail
        return f"{before}{pk or image.pk}{after}"

    def thumbnails(self, image: Image, pk: str = "") -> list[dict[str, Any]]:
        pk = pk or str(image.pk)
        return [
            {
                "height": height,
                "width": thumbnail_size(image.width, image.height, height)[0],
                "url": f"{before}{pk}{after}",
            }
            for height, (before, after) in self._thumbnails
        ]

    def original(self, image: Image, pk: str = "") -> str | None:
        if self._original is None:
            return None
        before, after = self._original
        return f"{before}{pk or image.pk}{after}"

    def expiring_links(self, image: Image, pk: str = "") -> str | None:
        if self._links is None:
            return None
        before, after = self._links
        return f"{before}{pk or image.pk}{after}"


class ImageSerializer(serializers.ModelSerializer[Image]):
    url = serializers.SerializerMethodField()
    thumbnails = serializers.SerializerMethodField()
    original = serializers.SerializerMethodField()
    expiring_links = serializers.SerializerMethodField()
    placeholder = serializers.SerializerMethodField(
        help_text="A BlurHash of the picture (its component counts follow the aspect ratio): "
        "decode it to paint a blurred preview before a thumbnail arrives. Null only for an "
        "image stored before placeholders existed, until the backfill reaches it."
    )
    dominant_color = serializers.SerializerMethodField(
        help_text="The picture's most common colour, #rrggbb in lower case (null as above)."
    )

    class Meta:
        model = Image
        fields = [
            "id",
            "url",
            "title",
            "width",
            "height",
            "content_type",
            "size",
            "uploaded_at",
            "thumbnails",
            "original",
            "expiring_links",
            "placeholder",
            "dominant_color",
        ]

    def to_representation(self, instance: Image) -> dict[str, Any]:
        # The same dict DRF would build from the fields above (which still describe it to
        # the schema and the browsable API; tests/images/test_representation.py holds the
        # two equal), without its per-field dispatch: 10 % of a list page's CPU.
        links: _Links = self.context["links"]
        pk = str(instance.pk)
        return {
            "id": pk,
            "url": links.url(instance, pk),
            "title": instance.title,
            "width": instance.width,
            "height": instance.height,
            "content_type": instance.content_type,
            "size": instance.size,
            "uploaded_at": links.datetime.to_representation(instance.uploaded_at),
            "thumbnails": links.thumbnails(instance, pk),
            "original": links.original(instance, pk),
            "expiring_links": links.expiring_links(instance, pk),
            "placeholder": instance.placeholder or None,
            "dominant_color": instance.dominant_color or None,
        }

    def get_url(self, image: Image) -> str:
        links: _Links = self.context["links"]
        return links.url(image)

    @extend_schema_field(ThumbnailLinkSerializer(many=True))
    def get_thumbnails(self, image: Image) -> list[dict[str, Any]]:
        links: _Links = self.context["links"]
        return links.thumbnails(image)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_original(self, image: Image) -> str | None:
        links: _Links = self.context["links"]
        return links.original(image)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_expiring_links(self, image: Image) -> str | None:
        links: _Links = self.context["links"]
        return links.expiring_links(image)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_placeholder(self, image: Image) -> str | None:
        return image.placeholder or None

    @extend_schema_field(serializers.RegexField(r"^#[0-9a-f]{6}$", allow_null=True))
    def get_dominant_color(self, image: Image) -> str | None:
        return image.dominant_color or None


def _context(request: Request) -> dict[str, Any]:
    capabilities = tier_capabilities(user=request_user(request))
    return {"request": request, "links": _Links(request, capabilities)}


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
        data = ImageSerializer(page, many=True, context=_context(request)).data
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
        data = ImageSerializer(image, context=_context(request)).data
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": data["url"]})


class ImageDetailApi(APIView):
    """One of your images with the links your tier allows. DELETE removes it for good."""

    name = "Image"

    @extend_schema(responses=ImageSerializer)
    def get(self, request: Request, image_id: uuid.UUID) -> Response:
        """One of your images with the links your tier allows."""
        image = image_get(owner=request_user(request), image_id=image_id)
        return Response(ImageSerializer(image, context=_context(request)).data)

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


class ImageThumbnailApi(BinaryApi):
    """A thumbnail, for its owner, at one of the tier's heights."""

    name = "Thumbnail"
    throttle_classes = [DownloadThrottle]

    @extend_schema(
        responses={
            **BINARY_RESPONSES,
            403: OpenApiResponse(ERROR_SCHEMA, "The height is not one of your tier's."),
        }
    )
    def get(self, request: Request, image_id: uuid.UUID, height: int) -> HttpResponseBase:
        """The thumbnail for one of your tier's heights (made on first request if needed)."""
        return self.download(request._request, image_id=image_id, height=height)

    @classmethod
    def download(cls, request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        return owner_download(cls, request, image_id=kwargs["image_id"], height=kwargs["height"])


def owner_download(
    view: type[BinaryApi], request: HttpRequest, *, image_id: uuid.UUID, height: int | None
) -> HttpResponseBase:
    """Glue: who asks, the decision, the rate limit, the bytes."""
    caller = download_caller(request)
    decision = owner_file(caller=caller, image_id=image_id, height=height)
    view.throttle(request, user_id=caller.user_id)
    return delivery.deliver(request, decision)
