"""SPEC §8 across processes: decisions cached in Redis by one host's gunicorn workers are
outdated by a change made in another process (here: this test, as a shell or an admin
would), so the next request to any worker is denied."""

import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from pixtier.accounts.models import Tier, User
from pixtier.accounts.selectors import tier_capabilities
from pixtier.images.services import image_upload
from pixtier.images.thumbnails import thumbnails_generate_for_image
from pixtier.links.models import ExpiringLink
from pixtier.links.services import expiring_link_create, expiring_link_revoke
from pixtier.links.signing import link_token
from tests.helpers import jpeg_bytes
from tests.integration import procs
from tests.integration.helpers import bearer

WARM = 12  # requests, spread over the workers, so that every worker has read the cache


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_a_change_in_another_process_denies_the_next_request_on_every_worker(
    service_env: dict[str, str], make_user: Callable[..., User], tmp_path: Path
) -> None:
    owner = make_user("Enterprise")
    file = SimpleUploadedFile("shared.jpg", jpeg_bytes(), content_type="image/jpeg")
    image = image_upload(owner=owner, file=file)
    thumbnails_generate_for_image(image_id=image.pk)
    links = [
        expiring_link_create(
            image=image, expires_in=600, height=height, capabilities=tier_capabilities(user=owner)
        )
        for height in (400, None)
    ]
    tokens = [
        link_token(link_id=link.pk, expires_at=int(link.expires_at.timestamp())) for link in links
    ]

    with procs.gunicorn(env=service_env, log=tmp_path / "gunicorn.log", workers=2) as url:
        owner_url = f"{url}/api/v1/images/{image.pk}/thumbnails/400/"
        link_urls = [f"{url}/api/v1/shared/{token}/" for token in tokens]
        for _ in range(WARM):
            assert status_of(owner_url, bearer(owner)) == 200
            assert [status_of(link) for link in link_urls] == [200, 200]

        Tier.objects.filter(pk=owner.tier_id).update(expiring_links=False)  # shell, committed

        assert [status_of(link) for link in link_urls] == [403, 403]
        assert status_of(owner_url, bearer(owner)) == 200  # untouched by that change

        User.objects.filter(pk=owner.pk).update(tier=Tier.objects.get(name="Basic"))

        for _ in range(4):  # whichever worker answers
            assert status_of(owner_url, bearer(owner)) == 403

        Tier.objects.filter(name="Enterprise").update(expiring_links=True)
        User.objects.filter(pk=owner.pk).update(tier=Tier.objects.get(name="Enterprise"))
        for _ in range(WARM):
            assert [status_of(link) for link in link_urls] == [200, 200]
        expiring_link_revoke(link=ExpiringLink.objects.get(pk=links[0].pk))

        for _ in range(4):
            assert [status_of(link) for link in link_urls] == [410, 200]
