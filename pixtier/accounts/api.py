"""The caller's account and the tiers on offer (read-only)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pixtier.accounts.models import Tier
from pixtier.accounts.selectors import Capabilities, tier_capabilities, tier_list


class TierSerializer(serializers.Serializer):
    name = serializers.CharField()
    thumbnail_heights = serializers.ListField(child=serializers.IntegerField())
    original_link = serializers.BooleanField()
    expiring_links = serializers.BooleanField()


def _tier_data(tier: Tier) -> dict[str, object]:
    return {
        "name": tier.name,
        "thumbnail_heights": sorted(size.height for size in tier.sizes.all()),
        "original_link": tier.original_link,
        "expiring_links": tier.expiring_links,
    }


def _capabilities_data(capabilities: Capabilities) -> dict[str, object]:
    return {
        "name": capabilities.tier_name,
        "thumbnail_heights": list(capabilities.heights),
        "original_link": capabilities.original_link,
        "expiring_links": capabilities.expiring_links,
    }


class MeApi(APIView):
    """Your account, your tier and what it allows."""

    name = "Me"

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "username": serializers.CharField(),
                "email": serializers.EmailField(),
                "tier": TierSerializer(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        """The signed-in user, their tier and what it allows."""
        user = request.user
        capabilities = tier_capabilities(user=user)  # type: ignore[arg-type]
        return Response(
            {
                "username": user.get_username(),
                "email": getattr(user, "email", ""),
                "tier": TierSerializer(_capabilities_data(capabilities)).data,
            }
        )


class TierListApi(APIView):
    """The account tiers: thumbnail heights, original links, expiring links."""

    name = "Tiers"

    @extend_schema(responses=TierSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Every tier with its thumbnail heights and flags."""
        data = [_tier_data(tier) for tier in tier_list()]
        return Response(TierSerializer(data, many=True).data)
