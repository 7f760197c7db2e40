"""Django admin for images: browse and preview them read-only, delete them with their files."""

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from pixtier import delivery
from pixtier.accounts.selectors import tier_capabilities
from pixtier.images.models import Image, Thumbnail
from pixtier.images.ondemand import ThumbnailNotReady, thumbnail_get
from pixtier.images.selectors import stored_original, stored_thumbnail
from pixtier.images.services import image_delete


class ThumbnailInline(admin.TabularInline[Thumbnail, Image]):
    model = Thumbnail
    fields = ("height", "format", "encoding", "state", "pixels", "file_size", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="pixels")
    def pixels(self, thumb: Thumbnail) -> str:
        if thumb.pixel_width is None:
            return "-"
        return f"{thumb.pixel_width} x {thumb.pixel_height}"

    @admin.display(description="size")
    def file_size(self, thumb: Thumbnail) -> str:
        return "-" if thumb.size is None else filesizeformat(thumb.size)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin[Image]):
    list_display = ("preview", "title", "owner", "dimensions", "file_size", "uploaded_at")
    list_display_links = ("preview", "title")
    list_select_related = ("owner",)
    list_filter = ("content_type",)
    search_fields = ("title", "owner__username")
    date_hierarchy = "uploaded_at"
    fields = (
        "large_preview",
        "id",
        "title",
        "owner",
        "content_type",
        "dimensions",
        "file_size",
        "uploaded_at",
        "owner_links",
        "expiring_links",
        "original_key",
        "sha256",
    )
    readonly_fields = fields
    inlines = [ThumbnailInline]

    # Images come only through the API and are never edited; admins may delete them.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Image) -> None:
        image_delete(image=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        with transaction.atomic():
            for image in queryset:
                image_delete(image=image)

    def get_urls(self) -> list[URLPattern]:
        preview = path(
            "<uuid:image_id>/preview/",
            # Cacheable: the response carries its own private, revalidating Cache-Control.
            self.admin_site.admin_view(self.preview_view, cacheable=True),
            name="images_image_preview",
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request: HttpRequest, image_id: uuid.UUID) -> HttpResponseBase:
        """Staff see the smallest thumbnail of the owner's tier (owner links serve only owners)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        image = get_object_or_404(Image.objects.select_related("owner"), pk=image_id)
        heights = tier_capabilities(user=image.owner).heights
        if heights:
            try:
                thumb = thumbnail_get(image=image, height=min(heights), tier_heights=heights)
            except ThumbnailNotReady:
                return HttpResponse(
                    "The preview is still being made.", status=503, headers={"Retry-After": "5"}
                )
            stored = stored_thumbnail(image, thumb)
        else:
            stored = stored_original(image)
        return delivery.serve(request, stored, cache_control=delivery.owner_cache_control())

    def _preview_img(self, image: Image, max_height: int) -> str:
        url = reverse(f"{self.admin_site.name}:images_image_preview", args=[image.pk])
        return format_html(
            '<img src="{}" alt="" loading="lazy" style="max-height: {}px; max-width: {}px;">',
            url,
            max_height,
            max_height * 2,
        )

    @admin.display(description="preview")
    def preview(self, image: Image) -> str:
        return self._preview_img(image, 80)

    @admin.display(description="preview")
    def large_preview(self, image: Image) -> str:
        return self._preview_img(image, 240)

    @admin.display(description="dimensions")
    def dimensions(self, image: Image) -> str:
        return f"{image.width} x {image.height}"

    @admin.display(description="size", ordering="size")
    def file_size(self, image: Image) -> str:
        return filesizeformat(image.size)

    @admin.display(description="owner links (serve the owner only)")
    def owner_links(self, image: Image) -> str:
        capabilities = tier_capabilities(user=image.owner)
        rows: list[tuple[str, str]] = [
            ("image", reverse("image-detail", kwargs={"image_id": image.pk}))
        ]
        if capabilities.original_link:
            rows.append(("original", reverse("image-original", kwargs={"image_id": image.pk})))
        else:
            rows.append(("original", f"not in the {capabilities.tier_name} tier"))
        rows.extend(
            (
                f"{height} px",
                reverse("image-thumbnail", kwargs={"image_id": image.pk, "height": height}),
            )
            for height in capabilities.heights
        )
        items = format_html_join("", "<li>{}: <code>{}</code></li>", rows)
        return format_html('<ul style="margin-left: 0">{}</ul>', items)

    @admin.display(description="expiring links")
    def expiring_links(self, image: Image) -> str:
        changelist = reverse(f"{self.admin_site.name}:links_expiringlink_changelist")
        query = urlencode({"image__id__exact": image.pk})
        return format_html('<a href="{}?{}">Expiring links of this image</a>', changelist, query)
