"""Failures of backing services answer 503 JSON, and an upload that fails leaves nothing."""

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from django.core.files.storage import Storage

from pixtier.images.models import Image
from tests.helpers import S3, jpeg_bytes, stored_files, upload


def test_an_upload_answers_503_when_storage_cannot_write(
    enterprise_user: Any, client_for: Any, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(self: Storage, name: str, content: Any, max_length: Any = None) -> str:
        if S3:
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")
        raise OSError(28, "No space left on device")

    # The disk cannot be filled (nor the object store cut off) here; this stands in for
    # the backend refusing the write with the error it raises then.
    monkeypatch.setattr(type(storage), "_save", refused)
    response = upload(client_for(enterprise_user), jpeg_bytes())

    assert response.status_code == 503
    assert response.json() == {"detail": "File storage is unavailable; try again shortly."}
    assert response["Retry-After"]
    assert not Image.objects.exists()
    assert stored_files() == []


def test_an_upload_leaves_no_file_when_the_database_write_fails(
    enterprise_user: Any, client_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    def database_gone(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(Image, "save", database_gone)
    response = upload(client_for(enterprise_user), jpeg_bytes())

    assert response.status_code == 503
    assert "database" in response.json()["detail"]
    assert stored_files() == []


def test_json_nested_too_deeply_is_a_400_not_a_500(client_for: Any) -> None:
    body = "[" * 100_000 + "]" * 100_000

    response = client_for(None).post("/api/v1/auth/token/", body, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_the_docs_page_answers_options_without_a_500(client_for: Any) -> None:
    response = client_for(None).options("/api/v1/docs/")

    assert response.status_code == 405


def test_the_docs_page_needs_no_cdn(client_for: Any) -> None:
    page = client_for(None).get("/api/v1/docs/").content.decode()

    assert "cdn.jsdelivr.net" not in page
    assert "/static/drf_spectacular_sidecar/" in page


@pytest.mark.parametrize("which", ["owner", "link"])
def test_a_download_answers_503_when_storage_cannot_read(
    owner: Any,
    anonymous: Any,
    image: dict[str, Any],
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    which: str,
) -> None:
    from tests.helpers import share

    url = image["thumbnails"][0]["url"]
    client = owner
    if which == "link":
        url, client = share(owner, image, expires_in=300)["url"], anonymous

    def refused(self: Storage, name: str, mode: str = "rb") -> Any:
        if S3:
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")
        raise OSError(5, "Input/output error")

    # Stands in for the disk (or the object store) failing the read with its own error.
    monkeypatch.setattr(type(storage), "_open", refused)
    response = client.get(url)

    assert response.status_code == 503
    assert response.json() == {"detail": "File storage is unavailable; try again shortly."}
    assert response["Retry-After"]
