"""With STORAGE_BACKEND=s3 every byte lives in the bucket: originals and thumbnails land
there (seen with boto3, not through Django), follow their rows out, and nothing is
written to the local disk, by this process or by a gunicorn serving the API."""

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.images.models import Image, Thumbnail
from tests.helpers import jpeg_bytes, png_bytes
from tests.integration.helpers import (
    bearer,
    bucket_objects,
    bucket_read,
    call,
    files_on_disk,
    generations,
    on,
    upload,
)
from tests.integration.procs import gunicorn


def test_originals_and_thumbnails_land_in_the_bucket_and_nowhere_on_disk(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    media_root: Path,
) -> None:
    data = png_bytes(800, 600)
    image = uploaded(enterprise_user, data, name="drawing.png", content_type="image/png")
    row = Image.objects.get(pk=image["id"])

    # The upload's one decode made the tier's thumbnails: all are in the bucket at the 201.
    thumbs = {t.height: t for t in Thumbnail.objects.filter(image=row, state="ready")}
    assert sorted(thumbs) == [200, 400]
    assert bucket_read(row.original_key) == data

    client = client_for(enterprise_user)
    served = {entry["height"]: client.get(entry["url"]) for entry in image["thumbnails"]}

    assert bucket_objects() == {
        row.original_key: len(data),
        **{t.key: t.size for t in thumbs.values()},
    }
    for height, response in served.items():
        assert response.status_code == 200
        stored = bucket_read(thumbs[height].key)
        assert response.getvalue() == stored
        assert hashlib.sha256(stored).hexdigest() == thumbs[height].sha256
        assert PILImage.open(io.BytesIO(stored)).height == height
    assert files_on_disk(media_root) == []


def test_deleting_an_image_empties_its_keys_in_the_bucket(
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
    django_capture_on_commit_callbacks: Any,
) -> None:
    kept = uploaded(enterprise_user, jpeg_bytes(320, 240))
    # Its original and the thumbnails its upload made.
    kept_keys = set(bucket_objects())
    assert Image.objects.get(pk=kept["id"]).original_key in kept_keys
    doomed = uploaded(enterprise_user, jpeg_bytes(640, 480))
    client = client_for(enterprise_user)
    for entry in doomed["thumbnails"]:
        assert client.get(entry["url"]).status_code == 200
    assert len(bucket_objects()) == 2 * len(kept_keys)

    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(doomed["url"]).status_code == 204

    assert set(bucket_objects()) == kept_keys


@pytest.mark.django_db(transaction=True)
def test_a_gunicorn_process_stores_uploads_and_thumbnails_only_in_the_bucket(
    enterprise_user: User, service_env: dict[str, str], media_root: Path, tmp_path: Path
) -> None:
    data = jpeg_bytes(1200, 900)
    env = {**service_env, "BACKGROUND_MODE": "off"}

    log = tmp_path / "gunicorn.log"
    with gunicorn(env=env, log=log) as base:
        image = upload(base, enterprise_user, data)
        thumbnail = call(on(base, image["thumbnails"][0]["url"]), headers=bearer(enterprise_user))
        original = call(on(base, image["original"]), headers=bearer(enterprise_user))

    assert (thumbnail.status, original.status) == (200, 200)
    assert original.body == data
    row = Image.objects.get(pk=image["id"])
    # The request for 200 made the tier's 400 too, from the same decode.
    thumbs = {t.height: t for t in Thumbnail.objects.filter(image=row, state="ready")}
    assert sorted(thumbs) == [200, 400]
    assert bucket_objects() == {
        row.original_key: len(data),
        **{t.key: t.size for t in thumbs.values()},
    }
    assert bucket_read(thumbs[200].key) == thumbnail.body
    # gunicorn logs each generation at INFO (the race tests count these lines).
    assert generations([log], image["id"]) == {200: 1, 400: 1}
    assert files_on_disk(media_root) == []
    assert service_env["MEDIA_ROOT"] == str(media_root)
