"""The API root: a map of the endpoints."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

_ENDPOINTS = {
    "me": "me",
    "tiers": "tier-list",
    "images": "image-list",
    "token": "token-obtain",
    "token_refresh": "token-refresh",
    "schema": "schema",
    "docs": "docs",
}


class ApiRootApi(APIView):
    """Pixtier: upload PNG and JPEG images and get thumbnail, original and expiring links
    according to your account tier. Start with "images"."""

    name = "Pixtier API"

    @extend_schema(responses={200: dict[str, str]})
    def get(self, request: Request) -> Response:
        """Links to every endpoint of the API."""
        return Response({key: reverse(name, request=request) for key, name in _ENDPOINTS.items()})
