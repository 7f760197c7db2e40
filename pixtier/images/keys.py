"""Deterministic storage keys for originals and thumbnails."""

import uuid
from datetime import datetime


def original_key(image_id: uuid.UUID, extension: str) -> str:
    return f"originals/{image_id.hex[:2]}/{image_id.hex}.{extension}"


def thumbnail_key(image_id: uuid.UUID, height: int, extension: str, *, claimed_at: datetime) -> str:
    """One key per generation (the claim's time): an object is written once and never
    overwritten, so a generator that lost its claim can delete its own file without
    touching the winner's (object stores overwrite a key silently)."""
    version = format(int(claimed_at.timestamp() * 1_000_000), "x")
    return f"thumbnails/{image_id.hex[:2]}/{image_id.hex}/{height}_{version}.{extension}"
