"""Integration tests run only against the real services (the second pass of .ci/run):
PostgreSQL, Redis and an S3-compatible server, configured through the environment."""

import os
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

SERVICES = bool(os.environ.get("REDIS_URL")) and os.environ.get("STORAGE_BACKEND") == "s3"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path) and not SERVICES:
            item.add_marker(
                pytest.mark.skip(
                    reason="needs REDIS_URL and STORAGE_BACKEND=s3 (make test-services)"
                )
            )


@pytest.fixture
def service_env(transactional_db: None, settings: Any, tmp_path: Path) -> dict[str, str]:
    """Environment for a gunicorn or Celery process that shares this test's database,
    Redis and storage (the test database, not the one DATABASE_URL names)."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    storage_options = settings.STORAGES["default"].get("OPTIONS", {})
    return {
        "DATABASE_URL": url,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "S3_LOCATION": storage_options.get("location", ""),
        "PIXTIER_VAR_DIR": str(tmp_path / "var"),
        # /readyz answers from the services' state at the very moment (not reused for a
        # second), so a test sees a service it stopped go down at once.
        "READYZ_CACHE_SECONDS": "0",
    }
