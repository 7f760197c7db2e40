"""The caller's account, the tiers on offer (read-only), and JWT sign-in."""

from typing import Any

from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import PasswordField, TokenObtainPairSerializer
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from pixtier.accounts.models import Tier, User
from pixtier.accounts.selectors import Capabilities, tier_capabilities, tier_list, user_usage
from pixtier.accounts.tokens import RefreshRefused, refresh_token_issue, refresh_token_rotate
from pixtier.common.errors import ERROR_SCHEMA
from pixtier.common.throttles import TokenThrottle


class TierSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    thumbnail_heights = serializers.ListField(child=serializers.IntegerField())
    original_link = serializers.BooleanField()
    expiring_links = serializers.BooleanField()
    max_images = serializers.IntegerField(
        allow_null=True, help_text="Most images a user may keep; null = no limit."
    )
    max_storage_bytes = serializers.IntegerField(
        allow_null=True, help_text="Most bytes of originals a user may keep; null = no limit."
    )
    max_upload_bytes = serializers.IntegerField(
        help_text="Largest single upload in bytes (the tier's limit within the global one)."
    )


class UsageSerializer(serializers.Serializer[Any]):
    images = serializers.IntegerField(help_text="Images you keep (counts for max_images).")
    storage_bytes = serializers.IntegerField(
        help_text="Bytes of your originals (counts for max_storage_bytes)."
    )


def _tier_data(tier: Tier) -> dict[str, object]:
    return {
        "name": tier.name,
        "thumbnail_heights": sorted(size.height for size in tier.sizes.all()),
        "original_link": tier.original_link,
        "expiring_links": tier.expiring_links,
        "max_images": tier.max_images,
        "max_storage_bytes": tier.max_storage_bytes,
        "max_upload_bytes": tier.upload_limit(),
    }


def _capabilities_data(capabilities: Capabilities) -> dict[str, object]:
    return {
        "name": capabilities.tier_name,
        "thumbnail_heights": list(capabilities.heights),
        "original_link": capabilities.original_link,
        "expiring_links": capabilities.expiring_links,
        "max_images": capabilities.max_images,
        "max_storage_bytes": capabilities.max_storage_bytes,
        "max_upload_bytes": capabilities.upload_limit,
    }


class MeApi(APIView):
    """Your account, your tier with what it allows, and your usage of its quotas."""

    name = "Me"

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "username": serializers.CharField(),
                # Not an EmailField: an account may have no address (then "").
                "email": serializers.CharField(allow_blank=True),
                "tier": TierSerializer(),
                "usage": UsageSerializer(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        """The signed-in user, their tier with what it allows, and their usage of its
        quotas (``usage``, next to the tier's ``max_images`` and ``max_storage_bytes``)."""
        user = request.user
        capabilities = tier_capabilities(user=user)  # type: ignore[arg-type]
        usage = user_usage(user_id=user.pk)  # type: ignore[arg-type]
        return Response(
            {
                "username": user.get_username(),
                "email": getattr(user, "email", ""),
                "tier": TierSerializer(_capabilities_data(capabilities)).data,
                "usage": UsageSerializer(usage).data,
            }
        )


class TierListApi(APIView):
    """The account tiers: thumbnail heights, original links, expiring links, quotas."""

    name = "Tiers"

    @extend_schema(responses=TierSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Every tier with its thumbnail heights, flags and quotas."""
        data = [_tier_data(tier) for tier in tier_list()]
        return Response(TierSerializer(data, many=True).data)


class SignInSerializer(TokenObtainPairSerializer):
    """A username and password."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # As typed: simplejwt's would trim spaces off both ends, and a password may begin
        # or end with one (the login form keeps them).
        self.fields["password"] = PasswordField(trim_whitespace=False)

    @classmethod
    def get_token(cls, user: User) -> Token:  # type: ignore[override]
        return refresh_token_issue(user=user)


class TokenPairSerializer(serializers.Serializer[dict[str, str]]):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RefreshSerializer(serializers.Serializer[dict[str, str]]):
    """A refresh token, exchanged once for a new access and refresh token."""

    refresh = serializers.CharField(write_only=True)
    access = serializers.CharField(read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            refresh = refresh_token_rotate(raw=attrs["refresh"])
        except RefreshRefused as exc:
            raise AuthenticationFailed(str(exc), code="refresh_refused") from exc
        return {"access": str(refresh.access_token), "refresh": str(refresh)}


@extend_schema_view(
    post=extend_schema(
        responses={
            200: TokenPairSerializer,
            401: OpenApiResponse(ERROR_SCHEMA, "Wrong username or password, or a closed account."),
        }
    )
)
class TokenObtainApi(TokenObtainPairView):
    """A JWT access and refresh token for a username and password. Limited per client
    address (THROTTLE_TOKEN), so passwords cannot be guessed at speed."""

    serializer_class = SignInSerializer
    throttle_classes = [TokenThrottle]

    def get_serializer_context(self) -> dict[str, Any]:
        # authenticate() gets Django's request, not DRF's wrapper: django-axes marks a
        # lockout on the request it is given, and its middleware reads Django's.
        return {**super().get_serializer_context(), "request": self.request._request}


@extend_schema_view(
    post=extend_schema(
        responses={
            200: TokenPairSerializer,
            401: OpenApiResponse(
                ERROR_SCHEMA,
                "The refresh token is not valid: expired, already used, or issued before "
                "a password change.",
            ),
        }
    )
)
class TokenRefreshApi(TokenRefreshView):
    """A new access token and a new refresh token for a refresh token. Each refresh token
    works once: using one twice revokes every refresh token of the account."""

    serializer_class = RefreshSerializer
