"""HTTP API for expiring links: create, list, revoke, and the public download."""

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from pixtier import delivery
from pixtier.accounts.selectors import Capabilities, request_user, tier_capabilities
from pixtier.common import metrics
from pixtier.common.api import BinaryApi, NewestLinksFirstPagination
from pixtier.common.errors import ERROR_SCHEMA
from pixtier.common.exceptions import Gone
from pixtier.common.throttles import LinkCreationThrottle, LinkDownloadThrottle
from pixtier.images.api import THUMBNAIL_FORMAT_PARAMETERS, THUMBNAIL_RESPONSES, requested_formats
from pixtier.images.models import Image
from pixtier.images.selectors import image_get
from pixtier.links import counting
from pixtier.links.access import link_file
from pixtier.links.models import MAX_DOWNLOADS_LIMIT, ExpiringLink
from pixtier.links.selectors import expiring_link_get, expiring_link_list
from pixtier.links.services import (
    expiring_link_create,
    expiring_link_revoke,
    link_download_count,
)
from pixtier.links.signing import link_token


class ExpiringLinkCreateSerializer(serializers.Serializer[Any]):
    expires_in = serializers.IntegerField(
        min_value=settings.PIXTIER_LINK_MIN_SECONDS,
        max_value=settings.PIXTIER_LINK_MAX_SECONDS,
        help_text=f"Lifetime in seconds, {settings.PIXTIER_LINK_MIN_SECONDS} to "
        f"{settings.PIXTIER_LINK_MAX_SECONDS} inclusive.",
    )
    height = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="A thumbnail height of your tier; omit or null for the original.",
    )
    max_downloads = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_DOWNLOADS_LIMIT,
        help_text=f"Downloads allowed, 1 to {MAX_DOWNLOADS_LIMIT}; omit or null for no "
        "limit. The link answers 410 after the last one.",
    )


class ExpiringLinkSerializer(serializers.ModelSerializer[ExpiringLink]):
    url = serializers.SerializerMethodField(help_text="Public download URL.")
    api_url = serializers.SerializerMethodField(help_text="GET it; DELETE it to revoke.")

    class Meta:
        model = ExpiringLink
        fields = [
            "id",
            "url",
            "api_url",
            "height",
            "expires_at",
            "expires_in",
            "created_at",
            "max_downloads",
            "downloads",
            "last_downloaded_at",
        ]
        extra_kwargs: ClassVar[dict[str, dict[str, str]]] = {
            "max_downloads": {"help_text": "Downloads allowed; null = no limit."},
            "downloads": {
                "help_text": "Downloads so far: full bodies and first byte ranges (HEAD "
                "and 304 do not count)."
            },
            "last_downloaded_at": {"help_text": "When the last counted download started."},
        }

    def to_representation(self, instance: ExpiringLink) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        # Downloads of an unlimited link still batched in Redis (pixtier.links.counting).
        pending: dict[uuid.UUID, counting.Pending] | None = self.context.get("pending")
        if pending is None and instance.max_downloads is None:
            pending = counting.pending_get([instance.pk])
        extra = (pending or {}).get(instance.pk)
        if extra is not None:
            data["downloads"] += extra.downloads
            last = max(
                filter(None, [instance.last_downloaded_at, extra.last_downloaded_at]),
                default=None,
            )
            data["last_downloaded_at"] = self.fields["last_downloaded_at"].to_representation(last)
        return data

    def get_url(self, link: ExpiringLink) -> str:
        token = link_token(link_id=link.pk, expires_at=int(link.expires_at.timestamp()))
        return reverse(
            "expiring-link-download", kwargs={"token": token}, request=self.context["request"]
        )

    def get_api_url(self, link: ExpiringLink) -> str:
        return reverse(
            "expiring-link-detail",
            kwargs={"image_id": link.image_id, "link_id": link.pk},
            request=self.context["request"],
        )


def pending_downloads(links: list[ExpiringLink]) -> dict[uuid.UUID, counting.Pending]:
    """Downloads of these unlimited links still batched in Redis, in one round trip."""
    return counting.pending_get(link.pk for link in links if link.max_downloads is None)


def _image_with_links(request: Request, image_id: uuid.UUID) -> tuple[Image, Capabilities]:
    """The caller's image (else 404), if their tier has expiring links (else 403)."""
    image = image_get(owner=request_user(request), image_id=image_id)
    capabilities = tier_capabilities(user=request_user(request))
    if not capabilities.expiring_links:
        raise exceptions.PermissionDenied(
            f"The {capabilities.tier_name} tier does not include expiring links."
        )
    return image, capabilities


class ExpiringLinkListApi(GenericAPIView[ExpiringLink]):
    """Public links to this image that stop working after `expires_in` seconds
    (300 to 30000), or after `max_downloads` downloads if given. Give a `height` to share
    a thumbnail instead of the original."""

    name = "Expiring links"
    serializer_class = ExpiringLinkCreateSerializer
    pagination_class = NewestLinksFirstPagination
    throttle_classes = [LinkCreationThrottle]

    def get_queryset(self) -> QuerySet[ExpiringLink]:
        image, _ = _image_with_links(self.request, self.kwargs["image_id"])
        return expiring_link_list(image=image)

    @extend_schema(
        responses={200: ExpiringLinkSerializer(many=True), 403: ERROR_SCHEMA, 404: ERROR_SCHEMA}
    )
    def get(self, request: Request, image_id: uuid.UUID) -> Response:
        """The image's links that still work, newest first."""
        page = self.paginate_queryset(self.get_queryset()) or []
        context = {"request": request, "pending": pending_downloads(page)}
        data = ExpiringLinkSerializer(page, many=True, context=context).data
        return self.get_paginated_response(data)

    @extend_schema(
        request=ExpiringLinkCreateSerializer,
        responses={201: ExpiringLinkSerializer, 403: ERROR_SCHEMA, 404: ERROR_SCHEMA},
    )
    def post(self, request: Request, image_id: uuid.UUID) -> Response:
        """Create a public link to the original (or a thumbnail) that expires."""
        image, capabilities = _image_with_links(request, image_id)
        serializer = ExpiringLinkCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        link = expiring_link_create(
            image=image,
            expires_in=serializer.validated_data["expires_in"],
            height=serializer.validated_data.get("height"),
            capabilities=capabilities,
            max_downloads=serializer.validated_data.get("max_downloads"),
        )
        data = ExpiringLinkSerializer(link, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": data["api_url"]})


class ExpiringLinkDetailApi(APIView):
    """One working link. DELETE revokes it: its URL stops working at once."""

    name = "Expiring link"

    @extend_schema(responses={200: ExpiringLinkSerializer, 403: ERROR_SCHEMA, 404: ERROR_SCHEMA})
    def get(self, request: Request, image_id: uuid.UUID, link_id: uuid.UUID) -> Response:
        """One working link."""
        image, _ = _image_with_links(request, image_id)
        link = expiring_link_get(image=image, link_id=link_id)
        return Response(ExpiringLinkSerializer(link, context={"request": request}).data)

    @extend_schema(responses={204: None, 404: ERROR_SCHEMA})
    def delete(self, request: Request, image_id: uuid.UUID, link_id: uuid.UUID) -> Response:
        """Revoke the link: its URL stops working at once. Always allowed, so links made
        on an earlier tier can be killed for good."""
        image = image_get(owner=request_user(request), image_id=image_id)
        expiring_link_revoke(link=expiring_link_get(image=image, link_id=link_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExpiringLinkDownloadApi(BinaryApi):
    """The image behind an expiring link; no sign-in needed until it expires."""

    name = "Shared image"
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [LinkDownloadThrottle]

    @extend_schema(
        parameters=THUMBNAIL_FORMAT_PARAMETERS,
        responses={
            **THUMBNAIL_RESPONSES,
            (206, "image/*"): OpenApiTypes.BINARY,
            403: OpenApiResponse(ERROR_SCHEMA, "The owner's tier no longer allows this link."),
            404: OpenApiResponse(ERROR_SCHEMA, "Not a valid link."),
            410: OpenApiResponse(
                ERROR_SCHEMA, "The link expired, was revoked, or its max_downloads are used."
            ),
            416: OpenApiResponse(ERROR_SCHEMA, "The range asked for is outside the file."),
        },
        auth=[],
    )
    def get(self, request: Request, token: str) -> HttpResponseBase:
        """The image behind an expiring link; no sign-in needed until it expires. A link
        to a thumbnail answers in AVIF, WebP or the original's format by `Accept` (or
        `?format=`, which a link to the original ignores: it is served as uploaded)."""
        return self.download(request._request, token=token)

    @classmethod
    def download(cls, request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        started = timezone.now()  # judged once, at request start
        cls.throttle(request, user_id=None)
        decision = link_file(
            token=kwargs["token"],
            now=int(started.timestamp()),
            formats=requested_formats(request),
            count_at=started if delivery.asks_whole_file(request) else None,
        )
        response = delivery.deliver(request, decision)
        # Counted as the body starts (SPEC 11): a full body or a range from offset 0;
        # HEAD, 304 and later ranges are not downloads. A limited link with none left
        # (taken meanwhile by a concurrent download) sends nothing.
        if (
            not decision.counted
            and delivery.sends_from_first_byte(request, response)
            and not link_download_count(
                link_id=decision.link_id, limited=decision.limited, now=started
            )
        ):
            delivery.discard(response)
            raise Gone("This link's downloads have all been used.")
        return cls.answered(response)

    @classmethod
    def answered(cls, response: HttpResponseBase) -> HttpResponseBase:
        # Every answer passes here, errors included, with its final status.
        metrics.link_download_counted(status_code=response.status_code)
        return response
