"""Pixtier's settings plus the bench's own URLs (a store-only upload to compare with)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
