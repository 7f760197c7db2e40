"""Pixtier's URLs plus /bench/store/: the upload's transport and storage without the
image (same authentication and parser, then default_storage.save), for part 4; and
/bench/static/: Django's static.serve of BENCH_STATIC_ROOT, unauthenticated (the public
media route a user could pick instead of Pixtier's access checks, for bench.access)."""

import os
import uuid

from django.core.files.storage import default_storage
from django.urls import path, re_path
from django.views.static import serve
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as pixtier


class StoreOnlyApi(APIView):
    parser_classes = [MultiPartParser]

    def post(self, request: Request) -> Response:
        key = default_storage.save(f"bench/{uuid.uuid4().hex}", request.FILES["file"])
        return Response({"key": key}, status=201)


STATIC_ROOT = os.environ.get("BENCH_STATIC_ROOT", "/nonexistent")

urlpatterns = [
    path("bench/store/", StoreOnlyApi.as_view()),
    re_path(r"^bench/static/(?P<path>.+)$", serve, {"document_root": STATIC_ROOT}),
    *pixtier,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
