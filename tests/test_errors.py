"""Failures of backing services answer 503 JSON, and an upload that fails leaves nothing."""

from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage

from pixtier.images.models import Image
from tests.conftest import jpeg_bytes, stored_files, upload


def test_an_upload_answers_503_when_storage_cannot_write(
    enterprise_user: Any, client_for: Any, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(self: FileSystemStorage, name: str, content: Any, max_length: Any = None) -> str:
        raise OSError(28, "No space left on device")

    # The disk itself cannot be filled here; this stands in for the OS refusing the write.
    monkeypatch.setattr(FileSystemStorage, "_save", full_disk)
    response = upload(client_for(enterprise_user), jpeg_bytes())

    assert response.status_code == 503
    assert response.json() == {"detail": "File storage is unavailable; try again shortly."}
    assert response["Retry-After"]
    assert not Image.objects.exists()
    assert stored_files(media_root) == []


def test_an_upload_leaves_no_file_when_the_database_write_fails(
    enterprise_user: Any, client_for: Any, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    def database_gone(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(Image, "save", database_gone)
    response = upload(client_for(enterprise_user), jpeg_bytes())

    assert response.status_code == 503
    assert "database" in response.json()["detail"]
    assert stored_files(media_root) == []
