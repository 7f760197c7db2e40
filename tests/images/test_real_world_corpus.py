"""Real-world files: every JPEG and PNG among Pillow's test images (``Tests/images/`` in its
source distribution on PyPI: ~490 files written by cameras, editors and fuzzers) is
uploaded, and answers as the table below says: no 5xx; 201 with READY thumbnails of the
right size (decoded back with Pillow); 400 for the broken ones.

``make test-corpus`` fetches the corpus once (cached under ``var/``) and runs this file;
plain ``make test`` skips it (it takes a minute). CI sets PIXTIER_CORPUS_REQUIRED=1, so a
missing corpus fails there instead of skipping.
"""

import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.images.models import Image, Thumbnail
from pixtier.images.processing import thumbnail_size
from tests.helpers import stored_files, upload

# Set by `make test-corpus` only, so plain `make test` skips even where var/ holds it.
CORPUS = Path(os.environ.get("PIXTIER_CORPUS", "/nonexistent"))
REQUIRED = os.environ.get("PIXTIER_CORPUS_REQUIRED") == "1"

# Every file not listed answers 201. Each entry was checked by hand against what Pillow
# and a browser make of the file.
EXPECTED: dict[str, tuple[int, str]] = {
    # Broken: no reader shows them.
    "apng/syntax_num_frames_zero.png": (400, "its header is corrupt"),
    "broken.png": (400, "its header is corrupt"),
    "broken_data_stream.png": (400, "truncated or corrupt"),
    "truncated_image.png": (400, "truncated or corrupt"),
    "truncated_jpeg.jpg": (400, "truncated or corrupt"),
    # An Ultra HDR sample cut short inside its primary image (Pillow: "image file is
    # truncated").
    "ultrahdr.jpg": (400, "truncated or corrupt"),
    # Pillow shows it, but its picture data is damaged (stray bytes before a restart
    # marker): it decodes to garbage.
    "hopper_bad_exif.jpg": (400, "truncated or corrupt"),
}
# Accepted although a libjpeg warning used to refuse them: stray bytes between header
# segments, which every browser ignores (issue 14).
JUNK_BETWEEN_HEADER_SEGMENTS = [
    "truncated_app14.jpg",
    "photoshop-200dpi-broken.jpg",
    "jpeg_ff00_header.jpg",
    "junk_jpeg_header.jpg",
]


def corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        str(path.relative_to(CORPUS))
        for path in CORPUS.rglob("*")
        if path.suffix.lower() in (".jpg", ".jpeg", ".png")
    )


FILES = corpus_files()


def test_the_corpus_is_there() -> None:
    if not FILES:
        message = "no corpus (PIXTIER_CORPUS): run `make test-corpus` (fetches Pillow's sdist)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    assert len(FILES) > 400
    assert set(EXPECTED) <= set(FILES)
    assert set(JUNK_BETWEEN_HEADER_SEGMENTS) <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_a_real_world_file_answers_as_expected(
    client_for: Any, enterprise_user: User, name: str
) -> None:
    client: APIClient = client_for(enterprise_user)
    data = (CORPUS / name).read_bytes()
    status, message = EXPECTED.get(name, (201, ""))

    response = upload(client, data, name=Path(name).name, content_type="application/octet-stream")

    assert response.status_code == status, response.content[:300]
    if status != 201:
        assert message in str(response.json())
        assert not Image.objects.exists()
        assert stored_files() == []
        return
    image = response.json()
    thumbs = {t.height: t for t in Thumbnail.objects.filter(image_id=image["id"])}
    assert sorted(thumbs) == [200, 400]
    for height, thumb in thumbs.items():
        assert thumb.state == Thumbnail.State.READY
        expected = thumbnail_size(image["width"], image["height"], height)
        with default_storage.open(thumb.key, "rb") as stored:
            made = PILImage.open(io.BytesIO(stored.read()))
            made.load()
        assert made.size == expected == (thumb.pixel_width, thumb.pixel_height)
        assert made.format == image["content_type"].split("/")[1].upper()
