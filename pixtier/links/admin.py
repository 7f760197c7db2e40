"""Django admin for expiring links: see them read-only and revoke them."""

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime

from pixtier.links import counting
from pixtier.links.models import STATES, ExpiringLink, ExpiringLinkQuerySet
from pixtier.links.services import expiring_link_revoke


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(state, state) for state in STATES]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ExpiringLink]
    ) -> QuerySet[ExpiringLink]:
        state = self.value()
        if state is None:
            return queryset
        return cast(ExpiringLinkQuerySet, queryset).in_state(state)


@admin.register(ExpiringLink)
class ExpiringLinkAdmin(admin.ModelAdmin[ExpiringLink]):
    list_display = (
        "id",
        "image_link",
        "owner",
        "target",
        "created_at",
        "expires_at",
        "download_count",
        "last_download",
        "status",
    )
    list_select_related = ("image__owner",)
    list_filter = (StatusFilter, "expires_at")
    search_fields = ("image__title", "image__owner__username")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "image_link",
        "owner",
        "target",
        "expires_in",
        "created_at",
        "expires_at",
        "revoked_at",
        "max_downloads",
        "download_count",
        "last_download",
        "status",
    )
    readonly_fields = fields
    actions = ["revoke"]

    # Links are made by their owners through the API; admins only look and revoke.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    @admin.action(description="Revoke selected links", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ExpiringLink]) -> None:
        revoked = 0
        for link in queryset.filter(revoked_at__isnull=True):
            expiring_link_revoke(link=link)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} link(s).", messages.SUCCESS)

    @admin.display(description="image", ordering="image__title")
    def image_link(self, link: ExpiringLink) -> str:
        url = reverse(f"{self.admin_site.name}:images_image_change", args=[link.image_id])
        return format_html('<a href="{}">{}</a>', url, link.image)

    @admin.display(description="owner", ordering="image__owner__username")
    def owner(self, link: ExpiringLink) -> str:
        return link.image.owner.username

    @admin.display(description="serves")
    def target(self, link: ExpiringLink) -> str:
        return "original" if link.height is None else f"{link.height} px thumbnail"

    @admin.display(description="downloads", ordering="downloads")
    def download_count(self, link: ExpiringLink) -> str:
        """Counted downloads, out of the limit if the link has one ("3 of 10"); an
        unlimited link's include those still batched in Redis."""
        if link.max_downloads is None:
            return str(link.downloads + self._pending(link).downloads)
        return f"{link.downloads} of {link.max_downloads}"

    @admin.display(description="last download", ordering="last_downloaded_at")
    def last_download(self, link: ExpiringLink) -> str:
        last = max(
            filter(None, [link.last_downloaded_at, self._pending(link).last_downloaded_at]),
            default=None,
        )
        return "-" if last is None else date_format(localtime(last), "DATETIME_FORMAT")

    def _pending(self, link: ExpiringLink) -> counting.Pending:
        if link.max_downloads is not None:
            return counting.Pending(0, None)
        return counting.pending_get([link.pk]).get(link.pk, counting.Pending(0, None))

    @admin.display(description="status")
    def status(self, link: ExpiringLink) -> str:
        return link.status()
