"""Two-speed AVIF (SPEC 10, issue 11): a first request gets a fast encode, which the
background replaces once with the thorough one (fewer bytes, a new ETag); thumbnails the
background makes are thorough from the start."""

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from redis.exceptions import RedisError
from rest_framework.test import APIClient

from pixtier.accounts.models import ThumbnailSize, Tier, User
from pixtier.common.errors import STORAGE_ERRORS
from pixtier.images import processing, thumbnails
from pixtier.images.models import Image, Thumbnail
from pixtier.images.services import image_delete
from pixtier.images.thumbnails import thumbnails_prune, thumbnails_refine
from tests.helpers import body_of, jpeg_bytes, stored_files


def thumbnail_url(image: dict[str, Any], height: int = 200) -> str:
    return str(next(t["url"] for t in image["thumbnails"] if t["height"] == height))


def avif_rows(image_id: str) -> dict[int, Thumbnail]:
    rows = Thumbnail.objects.filter(image_id=image_id, format="avif", state=Thumbnail.State.READY)
    return {row.height: row for row in rows}


def avif_keys(image_id: str) -> dict[int, str]:
    return {height: row.key for height, row in avif_rows(image_id).items()}


@pytest.fixture
def background(settings: Any) -> None:
    """Background jobs run at once, in the caller (as the thread and Celery modes run
    them later, elsewhere)."""
    settings.PIXTIER_BACKGROUND = "sync"


@pytest.fixture
def cold_avif(
    background: None,
    owner: APIClient,
    image: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> tuple[Any, list[Callable[[], None]]]:
    """The owner's first AVIF request for the image's 200 px thumbnail: its response,
    and the refine it queued, held back until the test runs it."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        first = owner.get(thumbnail_url(image), {"format": "avif"})
    assert first.status_code == 200
    assert first["Content-Type"] == "image/avif"
    return first, queued


def run(queued: list[Callable[[], None]], capture: Any) -> None:
    """Run the queued jobs, and what they leave for after their commits."""
    with capture(execute=True):
        for job in queued:
            job()


def test_a_cold_avif_answers_fast_then_is_served_smaller_with_a_new_etag(
    redis_cache: None,
    cold_avif: tuple[Any, list[Callable[[], None]]],
    owner: APIClient,
    image: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    first, queued = cold_avif
    answered = body_of(first)
    fast = avif_rows(image["id"])
    assert {row.encoding for row in fast.values()} == {"fast"}
    assert answered == default_storage.open(fast[200].key, "rb").read()
    # Served again before the refine: the same (cached) answer.
    assert owner.get(thumbnail_url(image), {"format": "avif"})["ETag"] == first["ETag"]

    run(queued, django_capture_on_commit_callbacks)

    refined = avif_rows(image["id"])
    assert {row.encoding for row in refined.values()} == {"thorough"}
    after = owner.get(thumbnail_url(image), {"format": "avif"})
    assert after.status_code == 200
    assert after["ETag"] != first["ETag"]
    served = body_of(after)
    assert len(served) < len(answered)
    old = PILImage.open(io.BytesIO(answered))
    new = PILImage.open(io.BytesIO(served))
    assert (new.format, new.size) == (old.format, old.size)
    # The other height the first request made from the same decode is refined too.
    assert refined[400].key != fast[400].key
    assert refined[400].size is not None
    assert fast[400].size is not None
    assert refined[400].size < fast[400].size


def test_a_client_revalidating_the_fast_encode_gets_the_refined_one(
    cold_avif: tuple[Any, list[Callable[[], None]]],
    owner: APIClient,
    image: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    first, queued = cold_avif
    url = thumbnail_url(image)
    assert owner.get(url, {"format": "avif"}, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    run(queued, django_capture_on_commit_callbacks)

    again = owner.get(url, {"format": "avif"}, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 200
    assert again["ETag"] != first["ETag"]


def test_the_fast_file_is_gone_from_storage_once_refined(
    cold_avif: tuple[Any, list[Callable[[], None]]],
    image: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    _, queued = cold_avif
    fast = avif_rows(image["id"])
    before = stored_files()

    run(queued, django_capture_on_commit_callbacks)

    refined = avif_rows(image["id"])
    for height in (200, 400):
        assert not default_storage.exists(fast[height].key)
        assert default_storage.exists(refined[height].key)
    assert stored_files() == sorted(
        set(before) - {row.key for row in fast.values()} | {row.key for row in refined.values()}
    )


def test_refining_an_image_deleted_since_leaves_no_file_and_no_error(
    cold_avif: tuple[Any, list[Callable[[], None]]],
    image: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        image_delete(image=Image.objects.get(pk=image["id"]))
    assert stored_files() == []

    assert thumbnails_refine(image_id=image["id"], heights=[200, 400], fmt="avif") == []
    assert stored_files() == []


def test_an_image_deleted_while_its_avif_is_refined_keeps_no_file(
    cold_avif: tuple[Any, list[Callable[[], None]]],
    image: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = processing.make_thumbnails

    def deleted_meanwhile(data: bytes, **kwargs: Any) -> dict[int, processing.Rendered]:
        made = real(data, **kwargs)
        image_delete(image=Image.objects.get(pk=image["id"]))
        return made

    monkeypatch.setattr(processing, "make_thumbnails", deleted_meanwhile)
    with django_capture_on_commit_callbacks(execute=True):
        assert thumbnails_refine(image_id=image["id"], heights=[200, 400], fmt="avif") == []

    assert stored_files() == []


def test_refining_twice_is_a_no_op(
    cold_avif: tuple[Any, list[Callable[[], None]]],
    image: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    _, queued = cold_avif
    run(queued, django_capture_on_commit_callbacks)
    refined = avif_keys(image["id"])
    files = stored_files()

    with django_capture_on_commit_callbacks(execute=True):
        again = thumbnails_refine(image_id=image["id"], heights=[200, 400], fmt="avif")

    assert again == []
    assert avif_keys(image["id"]) == refined
    assert stored_files() == files


def test_a_pruned_height_takes_its_refined_file_and_leaves_the_fast_one_gone(
    cold_avif: tuple[Any, list[Callable[[], None]]],
    image: dict[str, Any],
    tier: Callable[[str], Tier],
    django_capture_on_commit_callbacks: Any,
) -> None:
    _, queued = cold_avif
    fast = avif_rows(image["id"])
    run(queued, django_capture_on_commit_callbacks)
    refined = avif_rows(image["id"])

    ThumbnailSize.objects.get(tier=tier("Enterprise"), height=400).delete()
    with django_capture_on_commit_callbacks(execute=True):
        thumbnails_prune()

    assert set(avif_rows(image["id"])) == {200}
    for key in (fast[400].key, refined[400].key, fast[200].key):
        assert not default_storage.exists(key)
    assert default_storage.exists(refined[200].key)


def test_with_background_work_off_a_cold_avif_stays_fast(
    owner: APIClient, image: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = owner.get(thumbnail_url(image), {"format": "avif"})

    again = owner.get(thumbnail_url(image), {"format": "avif"})
    assert again["ETag"] == first["ETag"]
    assert {row.encoding for row in avif_rows(image["id"]).values()} == {"fast"}


def test_eager_avif_is_made_thorough_directly(
    background: None,
    settings: Any,
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.PIXTIER_EAGER_FORMATS = ("avif",)
    original = jpeg_bytes(640, 480)

    with django_capture_on_commit_callbacks(execute=True):
        made = uploaded(enterprise_user, original)

    rows = avif_rows(made["id"])
    assert {row.encoding for row in rows.values()} == {"thorough"}
    fast = processing.make_thumbnails(original, heights=[200, 400], fmt="avif", encoding="fast")
    for height, row in rows.items():
        assert row.size is not None
        assert row.size < len(fast[height].data)
    # Nothing is left to refine.
    assert thumbnails.thumbnails_refine(image_id=made["id"], heights=[200, 400]) == []


def test_a_refine_that_cannot_read_the_original_fails_and_changes_nothing(
    cold_avif: tuple[Any, list[Callable[[], None]]],
    image: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The job fails (and is retried) rather than pretend: the fast file stays served."""
    fast = avif_keys(image["id"])
    default_storage.delete(Image.objects.get(pk=image["id"]).original_key)
    files = stored_files()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(STORAGE_ERRORS):
        thumbnails_refine(image_id=image["id"], heights=[200, 400], fmt="avif")

    assert avif_keys(image["id"]) == fast
    assert stored_files() == files


def test_a_refine_that_cannot_outdate_cached_decisions_keeps_the_fast_file_only(
    cold_avif: tuple[Any, list[Callable[[], None]]],
    image: dict[str, Any],
    settings: Any,
    take_cache_down: Callable[[], None],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """With the shared cache unreachable the move is not made (a download could keep a
    decision naming the old file), and the new file does not stay behind."""
    settings.PIXTIER_DOWNLOAD_CACHE_SECONDS = 300
    fast = avif_keys(image["id"])
    files = stored_files()
    take_cache_down()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RedisError):
        thumbnails_refine(image_id=image["id"], heights=[200, 400], fmt="avif")

    assert avif_keys(image["id"]) == fast
    assert stored_files() == files


def test_refining_a_format_with_one_setting_does_nothing(
    owner: APIClient, image: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    assert owner.get(thumbnail_url(image), {"format": "webp"}).status_code == 200
    files = stored_files()

    with django_capture_on_commit_callbacks(execute=True):
        assert thumbnails_refine(image_id=image["id"], heights=[200, 400], fmt="webp") == []

    assert stored_files() == files
