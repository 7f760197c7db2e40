"""/metrics under gunicorn with several workers, as the compose file runs it: with
PROMETHEUS_MULTIPROC_DIR every scrape, whichever worker answers, sums all of them."""

import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from pixtier.accounts.models import User
from pixtier.accounts.selectors import tier_capabilities
from pixtier.images.services import image_upload
from pixtier.links.services import expiring_link_create
from pixtier.links.signing import link_token
from tests.helpers import jpeg_bytes
from tests.integration import procs

DOWNLOADS = 12


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read()


def test_metrics_sum_every_gunicorn_worker(
    service_env: dict[str, str], make_user: Callable[..., User], tmp_path: Path
) -> None:
    owner = make_user("Enterprise")
    file = SimpleUploadedFile("shared.jpg", jpeg_bytes(), content_type="image/jpeg")
    image = image_upload(owner=owner, file=file)
    link = expiring_link_create(
        image=image, expires_in=600, height=None, capabilities=tier_capabilities(user=owner)
    )
    token = link_token(link_id=link.pk, expires_at=int(link.expires_at.timestamp()))
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {**service_env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}

    with procs.gunicorn(env=env, log=tmp_path / "gunicorn.log", workers=3) as url:
        # Side by side, so that more than one worker serves some of them.
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(get, [f"{url}/api/v1/shared/{token}/"] * DOWNLOADS))
        assert [status for status, _ in answers] == [200] * DOWNLOADS
        for _ in range(6):  # scrapes land on different workers; each sees the total
            status, text = get(f"{url}/metrics")
            assert status == 200
            assert f'pixtier_link_downloads_total{{outcome="served"}} {DOWNLOADS}.0' in (
                text.decode()
            )
