"""The OpenAPI schema and the interactive docs describe the API as it really is."""

import io
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from config.urls import api as api_patterns

# Not API operations: the schema itself, its docs, the browsable API's login form,
# and the catch-all JSON 404.
NOT_OPERATIONS = {"schema", "docs", "api-not-found"}
IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/avif"]
BYTE_SERVING = [
    ("/api/v1/images/{image_id}/original/", True),
    ("/api/v1/images/{image_id}/thumbnails/{height}/", False),
    ("/api/v1/shared/{token}/", True),
]


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    document: dict[str, Any] = response.json()
    return document


def openapi_paths(patterns: list[URLPattern | URLResolver], prefix: str) -> set[str]:
    """The URL patterns as OpenAPI paths (``<uuid:image_id>`` -> ``{image_id}``)."""
    paths = set()
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "rest_framework":
                continue  # the browsable API's login form
            paths |= openapi_paths(pattern.url_patterns, route)
        elif pattern.name not in NOT_OPERATIONS:
            paths.add(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return paths


def test_the_schema_is_valid_openapi_3(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # type: ignore[no-untyped-call]  # raises on an invalid document


def test_the_schema_generates_without_warnings(tmp_path: Any) -> None:
    # --fail-on-warn turns any warning (an unguessable field, a missing type) into an error.
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "schema.yml"),
        stderr=io.StringIO(),
    )
    assert (tmp_path / "schema.yml").read_text().startswith("openapi: 3")


def test_the_schema_lists_every_endpoint(schema: dict[str, Any]) -> None:
    assert set(schema["paths"]) == openapi_paths(api_patterns, "/api/v1/")


def test_the_upload_is_a_multipart_form_with_a_binary_file(schema: dict[str, Any]) -> None:
    body = schema["paths"]["/api/v1/images/"]["post"]["requestBody"]
    form = body["content"]["multipart/form-data"]["schema"]
    form = resolve(schema, form)

    assert body["required"] is True
    assert form["properties"]["file"] == {**form["properties"]["file"], "format": "binary"}
    assert form["properties"]["file"]["type"] == "string"
    assert form["required"] == ["file"]
    assert "title" in form["properties"]
    assert "application/json" not in body["content"]


@pytest.mark.parametrize(("path", "ranges"), BYTE_SERVING)
def test_byte_serving_endpoints_answer_with_image_content(
    schema: dict[str, Any], path: str, ranges: bool
) -> None:
    responses = schema["paths"][path]["get"]["responses"]
    statuses = ["200", "206"] if ranges else ["200"]

    for status in statuses:
        content = responses[status]["content"]
        # Thumbnails (and links to them) name the formats they negotiate (SPEC 10).
        negotiates = status == "200" and "original" not in path
        types = [*IMAGE_TYPES] if negotiates else ["image/*"]
        assert list(content) == types, (status, content)
        for media_type in types:
            assert content[media_type]["schema"] == {"type": "string", "format": "binary"}
    assert "304" in responses


@pytest.mark.parametrize("path", [path for path, _ in BYTE_SERVING if "original" not in path])
def test_thumbnail_downloads_document_the_format_negotiation(
    schema: dict[str, Any], path: str
) -> None:
    operation = schema["paths"][path]["get"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "format"]

    assert parameter["in"] == "query"
    assert sorted(parameter["schema"]["enum"]) == ["avif", "jpeg", "png", "webp"]
    assert "Accept" in parameter["description"]
    assert "Vary: Accept" in parameter["description"]
    assert "400" in operation["responses"]


def test_the_expiring_link_download_documents_gone(schema: dict[str, Any]) -> None:
    responses = schema["paths"]["/api/v1/shared/{token}/"]["get"]["responses"]

    for status in ("404", "410"):
        detail = resolve(schema, responses[status]["content"]["application/json"]["schema"])
        assert "detail" in detail["properties"]


def test_only_public_endpoints_are_documented_as_needing_no_credentials(
    schema: dict[str, Any],
) -> None:
    public = {"/api/v1/shared/{token}/", "/api/v1/auth/token/", "/api/v1/auth/token/refresh/"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            needs_credentials = {"jwtAuth": []} in operation.get("security", [{}])
            needs_only = {} not in operation.get("security", [{}])
            assert (needs_credentials and needs_only) == (path not in public), (method, path)


def test_the_expiring_link_request_documents_its_bounds(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/api/v1/images/{image_id}/expiring-links/"]["post"]
    body = resolve(schema, operation["requestBody"]["content"]["application/json"]["schema"])

    assert body["properties"]["expires_in"]["minimum"] == 300
    assert body["properties"]["expires_in"]["maximum"] == 30000
    assert body["required"] == ["expires_in"]
    assert body["properties"]["height"]["nullable"] is True


def test_the_docs_page_is_served(db: None) -> None:
    response = APIClient().get("/api/v1/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "/api/v1/schema/" in response.content.decode()


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        node = schema["components"]["schemas"][name]
    return node


def test_the_schema_documents_quotas_usage_and_links_that_count(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    tier = components["Tier"]["properties"]
    assert {"max_images", "max_storage_bytes", "max_upload_bytes"} <= set(tier)
    assert tier["max_images"]["nullable"] is True
    assert set(components["Usage"]["properties"]) == {"images", "storage_bytes"}
    assert "usage" in components["Me"]["properties"]
    link = components["ExpiringLink"]["properties"]
    assert {"max_downloads", "downloads", "last_downloaded_at"} <= set(link)
    create = components["ExpiringLinkCreateRequest"]["properties"]["max_downloads"]
    assert (create["minimum"], create["maximum"], create["nullable"]) == (1, 1_000_000, True)
    paths = schema["paths"]
    upload = paths["/api/v1/images/"]["post"]["responses"]
    assert "quota" in upload["403"]["description"]
    assert "max_upload_bytes" in upload["413"]["description"]
    download = paths["/api/v1/shared/{token}/"]["get"]["responses"]
    assert "max_downloads" in download["410"]["description"]
