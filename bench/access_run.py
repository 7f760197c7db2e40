"""One tree's measurements for ``python -m bench.access`` (run inside that tree, with the
environment naming its own database and Redis): a thumbnail served three ways by the same
gunicorn, side by side and interleaved: Django's ``static.serve`` of the file
(unauthenticated, the public-media route a user could pick instead), the owner's
download (JWT) and an expiring link's; without and with Redis; streamed by Django and
handed to nginx (X-Accel-Redirect). Also the SQL each download asks, cold and warm.

``python -m bench.access_run SCRATCH JPEG OUT.json``
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from bench import load  # noqa: E402
from bench.access import LINK, NGINX, OWNER, STATIC  # noqa: E402
from bench.service import Server, gunicorn, nginx  # noqa: E402
from pixtier.accounts.models import Tier, User  # noqa: E402
from pixtier.accounts.selectors import tier_capabilities  # noqa: E402
from pixtier.images.models import Thumbnail  # noqa: E402
from pixtier.images.services import image_upload  # noqa: E402

try:  # where thumbnails are made moved after the baseline
    from pixtier.images.thumbnails import thumbnails_generate_for_image
except ImportError:  # pragma: no cover - the baseline tree
    from pixtier.images.services import thumbnails_generate_for_image  # type: ignore[attr-defined,no-redef]
from pixtier.links.services import expiring_link_create  # noqa: E402
from pixtier.links.signing import link_token  # noqa: E402
from tests.integration.procs import free_port  # noqa: E402

HEIGHT = 200
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECONDS = 2


def bearer(user: User) -> dict[str, str]:
    try:  # trees with a credential stamp in the token
        from pixtier.accounts.authentication import access_token_issue

        token: Any = access_token_issue(user=user)
    except ImportError:
        from rest_framework_simplejwt.tokens import AccessToken

        token = AccessToken.for_user(user)
    return {"Authorization": f"Bearer {token}"}


def seed(jpeg: bytes, static_root: Path) -> dict[str, Any]:
    user = User(username="bench-access", tier=Tier.objects.get(name="Enterprise"))
    user.set_unusable_password()
    user.save()
    image = image_upload(owner=user, file=SimpleUploadedFile("photo.jpg", jpeg), title="photo")
    thumbnails_generate_for_image(image_id=image.pk)
    link = expiring_link_create(
        image=image,
        expires_in=30_000,
        height=HEIGHT,
        capabilities=tier_capabilities(user=user),
    )
    token = link_token(link_id=link.pk, expires_at=int(link.expires_at.timestamp()))
    thumb = Thumbnail.objects.get(image=image, height=HEIGHT)
    (static_root / "bench").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(settings.MEDIA_ROOT) / thumb.key, static_root / "bench" / "thumb.jpg")
    return {
        "bytes": thumb.size,
        "targets": {
            STATIC: ("/bench/static/bench/thumb.jpg", {}),
            OWNER: (f"/api/v1/images/{image.pk}/thumbnails/{HEIGHT}/", bearer(user)),
            LINK: (f"/api/v1/shared/{token}/", {}),
        },
    }


def _redis_caches(url: str) -> dict[str, Any]:
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}


def sql(targets: dict[str, Any], *, redis: bool) -> dict[str, dict[str, int]]:
    """Queries per request, in this process: the first request after the cache was
    emptied (cold), then the least of the next four (warm)."""
    caches = (
        _redis_caches(os.environ["BENCH_REDIS_URL"])
        if redis
        else {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    )
    seconds = 300 if redis else 0
    counted = {}
    with override_settings(
        CACHES=caches,
        # As in a deployment: with Redis, unlimited links count their downloads there.
        REDIS_URL=os.environ["BENCH_REDIS_URL"] if redis else "",
        PIXTIER_DOWNLOAD_CACHE_SECONDS=seconds,
        PIXTIER_TIER_CACHE_SECONDS=seconds,
    ):
        for name, (path, headers) in targets.items():
            cache.clear()
            client = Client()
            extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
            counts = []
            for _ in range(5):
                with CaptureQueriesContext(connection) as captured:
                    response = client.get(path, **extra)
                assert response.status_code == 200, (name, response.status_code)
                counts.append(len(captured))
            counted[name] = {"cold": counts[0], "warm": min(counts[1:])}
    return counted


def profile(targets: dict[str, Any], redis_url: str, static_root: Path) -> dict[str, Any]:
    """CPU per request in process, whole and taken apart (bench.access_profile); absent
    from trees older than that module."""
    try:
        from bench import access_profile
    except ImportError:  # pragma: no cover - a baseline tree
        return {}
    no_redis = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(REDIS_URL="", PIXTIER_DOWNLOAD_CACHE_SECONDS=0):
        without = access_profile.whole_requests(targets, no_redis)
    with override_settings(REDIS_URL=redis_url, PIXTIER_DOWNLOAD_CACHE_SECONDS=300):
        cache.clear()
        caches = _redis_caches(redis_url)
        with_redis = access_profile.whole_requests(targets, caches)
        bare = access_profile.whole_requests(targets, caches, middleware=[])
        parts = access_profile.stages(targets, caches, str(static_root))
    return {"no Redis": without, "Redis": with_redis, "Redis, no middleware": bare, "stages": parts}


def measure(server: Server, targets: dict[str, Any]) -> dict[str, Any]:
    return load.interleaved(
        {name: (server.url + path, headers) for name, (path, headers) in targets.items()},
        rounds=ROUNDS,
        seconds=SECONDS,
        server_pids=server.pids,
    )


def main(scratch: Path, jpeg_path: Path, out: Path) -> None:
    call_command("migrate", verbosity=0)
    settings.PIXTIER_BACKGROUND = "off"
    static_root = Path(os.environ["BENCH_STATIC_ROOT"])
    media = seed(jpeg_path.read_bytes(), static_root)
    targets = media["targets"]
    redis_url = os.environ["BENCH_REDIS_URL"]
    base_env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DELIVERY_MODE")}
    results: dict[str, Any] = {"bytes": media["bytes"], "rows": {}}
    for cached in (False, True):
        results["rows"][f"sql, {'Redis' if cached else 'no Redis'}"] = sql(targets, redis=cached)
    results["profile"] = profile(targets, redis_url, static_root)
    for mode in ("django", "x-accel"):
        for cached in (False, True):
            env = {**base_env, "DELIVERY_MODE": mode}
            if cached:
                env["REDIS_URL"] = redis_url
            label = f"{'X-Accel (nginx)' if mode == 'x-accel' else 'Django streaming'}, "
            label += "Redis" if cached else "no Redis"
            print(f"  {label}", flush=True)
            log = scratch / f"gunicorn-{mode}-{cached}.log"
            port = free_port()
            with gunicorn(env=env, log=log, port=port) as upstream:
                if mode == "django":
                    results["rows"][label] = measure(upstream, targets)
                    continue
                with nginx(
                    port=free_port(),
                    upstream=f"127.0.0.1:{port}",
                    static_root=static_root,
                    workdir=scratch / f"nginx-{cached}",
                ) as front:
                    both = Server(front.url, front.pids + upstream.pids)
                    extra: dict[str, tuple[str, dict[str, str]]] = {
                        NGINX: ("/static/bench/thumb.jpg", {})
                    }
                    results["rows"][label] = measure(both, {**targets, **extra})
    out.write_text(json.dumps(results, indent=1, default=str))
    time.sleep(0)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
