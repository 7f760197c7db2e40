"""What an image looks like in the API: one home for the representation that the list,
the detail, the upload's 201 and the schema all use. ``ImageSerializer`` declares it (the
schema and the browsable API read its fields) and builds it (``to_representation``, the
same dict without DRF's per-field dispatch); ``ImageLinks`` makes its URLs."""

import uuid
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.reverse import reverse

from pixtier.accounts.selectors import Capabilities, request_user, tier_capabilities
from pixtier.images.models import Image
from pixtier.images.processing import thumbnail_size

# Stands in for an image id when a URL is reversed once per request; never a real id
# (uuid4 ids carry version bits this one lacks).
_URL_PROBE = uuid.UUID(int=0)


class ThumbnailLinkSerializer(serializers.Serializer[Any]):
    height = serializers.IntegerField(help_text="The tier height H.")
    width = serializers.IntegerField(help_text="Width of the file (no upscaling).")
    url = serializers.URLField()


_Template = tuple[str, str]  # an absolute URL split around the image id


class ImageLinks:
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
        links: ImageLinks = self.context["links"]
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
        links: ImageLinks = self.context["links"]
        return links.url(image)

    @extend_schema_field(ThumbnailLinkSerializer(many=True))
    def get_thumbnails(self, image: Image) -> list[dict[str, Any]]:
        links: ImageLinks = self.context["links"]
        return links.thumbnails(image)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_original(self, image: Image) -> str | None:
        links: ImageLinks = self.context["links"]
        return links.original(image)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_expiring_links(self, image: Image) -> str | None:
        links: ImageLinks = self.context["links"]
        return links.expiring_links(image)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_placeholder(self, image: Image) -> str | None:
        return image.placeholder or None

    @extend_schema_field(serializers.RegexField(r"^#[0-9a-f]{6}$", allow_null=True))
    def get_dominant_color(self, image: Image) -> str | None:
        return image.dominant_color or None


def representation_context(request: Request) -> dict[str, Any]:
    """What ImageSerializer needs: the request, and the links its tier gives (built once)."""
    capabilities = tier_capabilities(user=request_user(request))
    return {"request": request, "links": ImageLinks(request, capabilities)}
