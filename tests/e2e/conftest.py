"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

`make test` skips them where Chromium or Playwright is missing (with the reason);
CI sets PIXTIER_E2E_REQUIRED=1 so that a missing browser fails instead.
The README screenshots are written only by `make screenshots` (PIXTIER_SCREENSHOTS_DIR);
an ordinary run takes them into a temporary folder, so it leaves `git status` clean.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PIXTIER_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[e2e]')"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("PIXTIER_E2E_REQUIRED") == "1":
            pytest.fail(f"browser tests are required here: {reason}")
        pytest.skip(f"browser tests skipped: {reason}")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests
    # make between browser steps are still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def screenshot(tmp_path: Path) -> Any:
    wanted = os.environ.get("PIXTIER_SCREENSHOTS_DIR")
    folder = Path(wanted) if wanted else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
