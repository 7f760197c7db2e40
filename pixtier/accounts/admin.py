"""Django admin for tiers and users: shape tiers, assign and move users between them."""

import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from pixtier.accounts.models import MAX_THUMBNAIL_HEIGHT, ThumbnailSize, Tier, User, default_tier
from pixtier.accounts.services import user_tier_set
from pixtier.common.units import human_bytes

admin.site.site_header = "Pixtier administration"
admin.site.site_title = "Pixtier admin"
admin.site.index_title = "Tiers, users, images and links"

# What ModelAdmin.get_actions() maps action names to (the stubs expect any return).
ActionCallable = Callable[..., Any]


class ThumbnailSizeForm(forms.ModelForm[ThumbnailSize]):
    # Declared so the browser also enforces the range the model validates.
    height = forms.IntegerField(
        min_value=1,
        max_value=MAX_THUMBNAIL_HEIGHT,
        help_text=f"Pixels, 1 to {MAX_THUMBNAIL_HEIGHT}.",
    )

    class Meta:
        model = ThumbnailSize
        fields = ["height"]


class ThumbnailSizeFormSet(
    forms.BaseInlineFormSet[ThumbnailSize, Tier, "forms.ModelForm[ThumbnailSize]"]
):
    def clean(self) -> None:
        # Checked here, before Django's generic uniqueness check, to name the height.
        kept = [
            form.cleaned_data["height"]
            for form in self.forms
            if form.cleaned_data.get("height") is not None and not form.cleaned_data.get("DELETE")
        ]
        duplicates = sorted(height for height, n in Counter(kept).items() if n > 1)
        if duplicates:
            listed = ", ".join(f"{height} px" for height in duplicates)
            raise ValidationError(
                f"Each thumbnail height may appear only once per tier; {listed} is listed "
                "more than once."
            )
        super().clean()

    def save(self, commit: bool = True) -> list[Any]:
        if commit:
            # Saving row by row can collide half way (swapping 200 and 400), so rows that go
            # or get a new height leave first. Saving such a row then inserts it anew,
            # which also counts its height as new (the backfill starts).
            leaving = [
                form.instance.pk
                for form in self.initial_forms
                if form.instance.pk is not None
                and (form.cleaned_data.get("DELETE") or "height" in form.changed_data)
            ]
            ThumbnailSize.objects.filter(pk__in=leaving).delete()
        return super().save(commit)


class ThumbnailSizeInline(admin.TabularInline[ThumbnailSize, Tier]):
    model = ThumbnailSize
    form = ThumbnailSizeForm
    formset = ThumbnailSizeFormSet
    extra = 1
    verbose_name = "thumbnail height"
    verbose_name_plural = "thumbnail heights"


def _users_url(tier: Tier) -> str:
    query = urlencode({"tier__id__exact": tier.pk})
    return f"{reverse('admin:accounts_user_changelist')}?{query}"


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin[Tier]):
    list_display = ("name", "summary", "user_count")
    search_fields = ("name",)
    fields = (
        "name",
        "original_link",
        "expiring_links",
        "max_images",
        "max_storage_bytes",
        "max_upload_bytes",
        "users",
    )
    readonly_fields = ("users",)
    inlines = [ThumbnailSizeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tier]:
        return (
            super()
            .get_queryset(request)
            .annotate(user_count=Count("users"))
            .prefetch_related("sizes")
        )

    @admin.display(description="offers")
    def summary(self, tier: Tier) -> str:
        heights = [size.height for size in tier.sizes.all()]
        parts = [f"{', '.join(map(str, heights))} px" if heights else "no thumbnails"]
        if tier.original_link:
            parts.append("original")
        if tier.expiring_links:
            parts.append("links")
        if tier.max_images is not None:
            parts.append(f"≤ {tier.max_images} images")
        if tier.max_storage_bytes is not None:
            parts.append(f"≤ {human_bytes(tier.max_storage_bytes)} stored")
        if tier.max_upload_bytes is not None:
            parts.append(f"≤ {human_bytes(tier.max_upload_bytes)} per upload")
        return " · ".join(parts)

    @admin.display(description="users", ordering="user_count")
    def user_count(self, tier: Tier) -> str:
        count = tier.user_count  # type: ignore[attr-defined]  # annotated in get_queryset
        return format_html('<a href="{}">{}</a>', _users_url(tier), count)

    @admin.display(description="users")
    def users(self, tier: Tier) -> str:
        if tier.pk is None:
            return "-"
        count = tier.user_count  # type: ignore[attr-defined]
        hint = " A tier can be deleted once it has no users." if count else ""
        return format_html('<a href="{}">{} user(s)</a>.{}', _users_url(tier), count, hint)


def _move_to_tier_action(tier: Tier) -> ActionCallable:
    def move(
        modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
    ) -> None:
        users = user_tier_set(users=queryset, tier=tier)
        if users:
            LogEntry.objects.log_actions(
                user_id=cast(int, request.user.pk),  # staff only: never anonymous
                queryset=users,
                action_flag=CHANGE,
                change_message=[{"changed": {"fields": ["Tier"]}}],
            )
        modeladmin.message_user(
            request, f"Moved {len(users)} user(s) to tier “{tier.name}”.", messages.SUCCESS
        )

    return move


@admin.register(User)
class UserAdmin(BaseUserAdmin[User]):
    fieldsets = (
        (None, {"fields": ("username", "password", "tier")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ),
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "email",
                    "tier",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    list_display = ("username", "email", "tier", "is_staff", "is_active", "date_joined")
    list_filter = ("tier", "is_staff", "is_superuser", "is_active")
    search_fields = ("username", "email")
    list_select_related = ("tier",)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        if "tier" not in initial:
            with contextlib.suppress(Tier.DoesNotExist):
                initial["tier"] = str(default_tier().pk)
        return initial

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if self.actions is None or IS_POPUP_VAR in request.GET:
            return actions
        if not self.has_change_permission(request):
            return actions
        for tier in Tier.objects.order_by("name"):
            name = f"move_to_tier_{tier.pk}"
            # Action descriptions are %-formatted with the model's names.
            description = f"Move selected users to tier “{tier.name.replace('%', '%%')}”"
            actions[name] = (_move_to_tier_action(tier), name, description)
        return actions
