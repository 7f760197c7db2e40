"""URL map: the API under /api/v1/, django-admin under /admin/, and at the root the
probes /healthz and /readyz and the Prometheus /metrics (none of them in the schema)."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from pixtier.accounts.api import MeApi, TierListApi, TokenObtainApi, TokenRefreshApi
from pixtier.common.errors import page_not_found
from pixtier.common.health import healthz, readyz
from pixtier.common.metrics import metrics
from pixtier.common.root import ApiRootApi
from pixtier.images.api import ImageDetailApi, ImageListApi, ImageOriginalApi, ImageThumbnailApi
from pixtier.links.api import ExpiringLinkDetailApi, ExpiringLinkDownloadApi, ExpiringLinkListApi

api: list[URLPattern | URLResolver] = [
    path("", ApiRootApi.as_view(), name="api-root"),
    path("me/", MeApi.as_view(), name="me"),
    path("tiers/", TierListApi.as_view(), name="tier-list"),
    path("images/", ImageListApi.as_view(), name="image-list"),
    path("images/<uuid:image_id>/", ImageDetailApi.as_view(), name="image-detail"),
    path("images/<uuid:image_id>/original/", ImageOriginalApi.as_view(), name="image-original"),
    path(
        "images/<uuid:image_id>/thumbnails/<int:height>/",
        ImageThumbnailApi.as_view(),
        name="image-thumbnail",
    ),
    path(
        "images/<uuid:image_id>/expiring-links/",
        ExpiringLinkListApi.as_view(),
        name="image-expiring-links",
    ),
    path(
        "images/<uuid:image_id>/expiring-links/<uuid:link_id>/",
        ExpiringLinkDetailApi.as_view(),
        name="expiring-link-detail",
    ),
    path("shared/<str:token>/", ExpiringLinkDownloadApi.as_view(), name="expiring-link-download"),
    path("auth/token/", TokenObtainApi.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/", include("rest_framework.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # No OPTIONS metadata for the HTML docs page (its renderer cannot describe itself).
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="schema", metadata_class=None),
        name="docs",
    ),
    # Anything else under the API is a JSON 404, even with DEBUG on.
    re_path(r"^.*$", csrf_exempt(page_not_found), name="api-not-found"),
]

urlpatterns = [
    path("api/v1/", include(api)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="prometheus-django-metrics"),
    path("", RedirectView.as_view(url="/api/v1/", permanent=False)),
]

handler400 = "pixtier.common.errors.bad_request"
handler403 = "pixtier.common.errors.permission_denied"
handler404 = "pixtier.common.errors.page_not_found"
handler500 = "pixtier.common.errors.server_error"
