"""Deterministic storage keys for originals and thumbnails."""

import uuid


def original_key(image_id: uuid.UUID, extension: str) -> str:
    return f"originals/{image_id.hex[:2]}/{image_id.hex}.{extension}"


def thumbnail_key(image_id: uuid.UUID, height: int, extension: str) -> str:
    return f"thumbnails/{image_id.hex[:2]}/{image_id.hex}/{height}.{extension}"
