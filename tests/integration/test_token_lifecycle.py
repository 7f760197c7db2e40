"""Tokens end everywhere at once, with real processes: two gunicorn servers sharing
PostgreSQL and Redis. After a password change the very next request with a token issued
before it is refused by either server, downloads included, however warm their caches;
a refresh token used on one server cannot be used again on the other."""

import json
from pathlib import Path
from typing import Any

import pytest

from pixtier.accounts.models import User
from pixtier.accounts.tokens import refresh_token_issue
from tests.helpers import jpeg_bytes
from tests.integration.helpers import call, on, upload
from tests.integration.procs import gunicorn

pytestmark = pytest.mark.django_db(transaction=True)

WARM_REQUESTS = 6


def refresh(base: str, token: str) -> Any:
    body = json.dumps({"refresh": token}).encode()
    headers = {"Content-Type": "application/json"}
    return call(f"{base}/api/v1/auth/token/refresh/", method="POST", headers=headers, body=body)


def test_a_password_change_ends_every_token_on_every_server_at_once(
    enterprise_user: User, service_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**service_env, "BACKGROUND_MODE": "sync"}
    pair = refresh_token_issue(user=enterprise_user)
    auth = {"Authorization": f"Bearer {pair.access_token}"}
    with (
        gunicorn(env=env, log=tmp_path / "web-a.log") as server_a,
        gunicorn(env=env, log=tmp_path / "web-b.log") as server_b,
    ):
        image = upload(server_a, enterprise_user, jpeg_bytes(800, 600))
        urls = ["/api/v1/me/", image["url"], image["original"], image["thumbnails"][0]["url"]]
        for base in (server_a, server_b):  # every cache warm on both
            for _ in range(WARM_REQUESTS):
                for url in urls:
                    assert call(on(base, url), headers=auth).status == 200, url

        enterprise_user.set_password("a different passphrase entirely")
        enterprise_user.save()

        answers = {
            (base, url): call(on(base, url), headers=auth)
            for base in (server_a, server_b)
            for url in urls
        }
        refreshed = refresh(server_b, str(pair))

    assert {key: reply.status for key, reply in answers.items()} == dict.fromkeys(answers, 401)
    assert all("password" in reply.json()["detail"] for reply in answers.values())
    assert refreshed.status == 401


def test_a_refresh_token_works_once_across_servers(
    enterprise_user: User, service_env: dict[str, str], tmp_path: Path
) -> None:
    first = str(refresh_token_issue(user=enterprise_user))
    with (
        gunicorn(env=service_env, log=tmp_path / "web-a.log") as server_a,
        gunicorn(env=service_env, log=tmp_path / "web-b.log") as server_b,
    ):
        rotated = refresh(server_a, first)
        replayed = refresh(server_b, first)
        after_the_replay = refresh(server_a, rotated.json()["refresh"])

    assert rotated.status == 200
    assert set(rotated.json()) == {"access", "refresh"}
    assert replayed.status == 401
    assert "already used" in replayed.json()["detail"]
    assert after_the_replay.status == 401  # the whole family was revoked
