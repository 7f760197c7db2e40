"""Shared fixtures: a user per tier, a stranger, API clients, and image bytes."""

import importlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage
from rest_framework.test import APIClient

from pixtier.accounts.models import ThumbnailSize, Tier, User


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Every test gets its own empty MEDIA_ROOT; background work is off unless asked;
    passwords hash fast (the real hasher is slow by design and tests make many users)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    settings.PIXTIER_BACKGROUND = "off"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return root


def stored_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _ensure_builtin_tiers() -> None:
    """A transactional test (threads, the live server) empties every table when it ends,
    taking the migration-made tiers with it; put them back for whoever runs next."""
    migration = importlib.import_module("pixtier.accounts.migrations.0002_builtin_tiers")
    migration.create_tiers(django_apps, None)


@pytest.fixture
def tier(db: None) -> Callable[[str], Tier]:
    _ensure_builtin_tiers()
    return lambda name: Tier.objects.get(name=name)


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    _ensure_builtin_tiers()
    counter = iter(range(1, 10_000))

    def make(tier_name: str = "Basic", **extra: Any) -> User:
        n = next(counter)
        return User.objects.create_user(
            username=extra.pop("username", f"user{n}"),
            password=extra.pop("password", "correct horse battery staple"),
            tier=Tier.objects.get(name=tier_name),
            **extra,
        )

    return make


@pytest.fixture
def basic_user(make_user: Callable[..., User]) -> User:
    return make_user("Basic", username="basic")


@pytest.fixture
def premium_user(make_user: Callable[..., User]) -> User:
    return make_user("Premium", username="premium")


@pytest.fixture
def enterprise_user(make_user: Callable[..., User]) -> User:
    return make_user("Enterprise", username="enterprise")


@pytest.fixture
def stranger(make_user: Callable[..., User]) -> User:
    """Another Enterprise user: may do everything, but not with other people's images."""
    return make_user("Enterprise", username="stranger")


@pytest.fixture
def custom_tier(db: None) -> Tier:
    tier = Tier.objects.create(name="Thumbs only", original_link=False, expiring_links=True)
    ThumbnailSize.objects.bulk_create(ThumbnailSize(tier=tier, height=h) for h in (100, 300))
    return tier


@pytest.fixture
def client_for() -> Callable[[User | None], APIClient]:
    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


def photo(width: int, height: int, mode: str = "RGB") -> PILImage.Image:
    """Photo-like content: smooth gradients with detail, not flat colour or noise."""
    gradient = PILImage.linear_gradient("L").resize((width, height))
    radial = PILImage.radial_gradient("L").resize((width, height))
    bands = {
        "RGB": (gradient, radial, gradient.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT)),
        "RGBA": (gradient, radial, gradient, radial),
    }
    if mode in bands:
        return PILImage.merge(mode, bands[mode])
    return PILImage.merge("RGB", bands["RGB"][:3]).convert(mode)


def jpeg_bytes(
    width: int = 640, height: int = 480, *, orientation: int | None = None, **save: Any
) -> bytes:
    out = io.BytesIO()
    image = photo(width, height, save.pop("mode", "RGB"))
    if orientation is not None:
        exif = PILImage.Exif()
        exif[0x0112] = orientation
        save["exif"] = exif
    image.save(out, "JPEG", quality=90, **save)
    return out.getvalue()


def png_bytes(width: int = 640, height: int = 480, mode: str = "RGBA", **save: Any) -> bytes:
    out = io.BytesIO()
    photo(width, height, mode).save(out, "PNG", **save)
    return out.getvalue()


def upload(
    client: APIClient,
    data: bytes,
    name: str = "photo.jpg",
    content_type: str = "image/jpeg",
    **fields: Any,
) -> Any:  # the test client's response (with .json())
    file = SimpleUploadedFile(name, data, content_type=content_type)
    return client.post("/api/v1/images/", {"file": file, **fields}, format="multipart")


@pytest.fixture
def uploaded(client_for: Callable[[User | None], APIClient]) -> Callable[..., dict[str, Any]]:
    """Upload an image as ``user`` through the API; return its representation."""

    def make(user: User, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        response = upload(client_for(user), data or jpeg_bytes(), **kwargs)
        assert response.status_code == 201, response.content
        return response.json()

    return make
