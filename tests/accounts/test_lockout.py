"""Password guessing is locked out on every sign-in form, under one policy (django-axes):
the admin's login, the browsable API's login and the token endpoint count together, per
username and per client address, and a locked sign-in is refused even with the right
password until the cool-off ends."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client

from pixtier.accounts.models import User

PASSWORD = "correct horse battery staple"
ADMIN_LOGIN = "/admin/login/"
API_LOGIN = "/api/v1/auth/login/"
TOKEN = "/api/v1/auth/token/"
LIMIT = 3
COOLOFF = timedelta(minutes=10)


@pytest.fixture(autouse=True)
def policy(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = COOLOFF


@pytest.fixture
def staff(make_user: Any) -> User:
    user: User = make_user(username="root", is_staff=True, is_superuser=True)
    return user


def form_login(path: str, username: str, password: str, address: str = "192.0.2.1") -> Any:
    client = Client(REMOTE_ADDR=address)
    page = client.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token, path
    body = {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    response = client.post(path, body)
    response.client = client
    return response


def token_login(username: str, password: str, address: str = "192.0.2.1", **extra: Any) -> Any:
    body = {"username": username, "password": password}
    return Client(REMOTE_ADDR=address).post(TOKEN, body, content_type="application/json", **extra)


def assert_locked_page(response: Any) -> None:
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert "Too many failed sign-ins" in response.content.decode()
    assert "Try again in 10 minutes" in response.content.decode()
    assert response["Retry-After"] == "600"
    assert "sessionid" not in response.client.cookies


def assert_locked_json(response: Any) -> None:
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert "Too many failed sign-ins" in response.json()["detail"]
    assert response["Retry-After"] == "600"
    assert "access" not in response.json()


@pytest.mark.parametrize("path", [ADMIN_LOGIN, API_LOGIN])
def test_a_login_form_locks_a_username_out_after_the_failure_limit(staff: User, path: str) -> None:
    for _ in range(LIMIT - 1):
        assert form_login(path, "root", "wrong").status_code == 200  # the form again

    assert_locked_page(form_login(path, "root", "wrong"))
    assert_locked_page(form_login(path, "root", PASSWORD))


def test_the_token_endpoint_locks_a_username_out_with_a_json_429(premium_user: User) -> None:
    for _ in range(LIMIT - 1):
        assert token_login("premium", "wrong").status_code == 401

    assert_locked_json(token_login("premium", "wrong"))
    assert_locked_json(token_login("premium", PASSWORD))


def test_failures_on_every_form_count_together(staff: User) -> None:
    assert form_login(ADMIN_LOGIN, "root", "wrong").status_code == 200
    assert form_login(API_LOGIN, "root", "wrong").status_code == 200
    assert_locked_json(token_login("root", "wrong"))

    assert_locked_page(form_login(ADMIN_LOGIN, "root", PASSWORD))
    assert_locked_page(form_login(API_LOGIN, "root", PASSWORD))
    assert_locked_json(token_login("root", PASSWORD))


def test_a_locked_username_is_locked_from_every_address(premium_user: User) -> None:
    for n in range(LIMIT):
        token_login("premium", "wrong", address=f"198.51.100.{n + 1}")

    assert_locked_json(token_login("premium", PASSWORD, address="203.0.113.9"))


def test_an_address_guessing_many_usernames_is_locked_out(
    premium_user: User, basic_user: User
) -> None:
    for name in ("alice", "bob", "carol"):
        token_login(name, "wrong", address="192.0.2.66")

    assert_locked_json(token_login("premium", PASSWORD, address="192.0.2.66"))
    assert token_login("basic", PASSWORD, address="192.0.2.7").status_code == 200


def test_the_lockout_ends_after_the_cool_off(time_machine: Any, premium_user: User) -> None:
    time_machine.move_to(datetime(2026, 11, 22, 10, 0, tzinfo=UTC), tick=False)
    for _ in range(LIMIT):
        token_login("premium", "wrong")

    time_machine.shift(COOLOFF - timedelta(seconds=5))
    assert_locked_json(token_login("premium", PASSWORD, address="192.0.2.200"))
    time_machine.shift(COOLOFF + timedelta(seconds=5))  # counted again from that attempt
    assert token_login("premium", PASSWORD).status_code == 200


def test_a_forged_forwarded_for_header_does_not_escape_the_address_lockout(
    premium_user: User,
) -> None:
    for n in range(LIMIT):
        token_login(f"guess{n}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    assert_locked_json(token_login("premium", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99"))


def test_behind_a_proxy_the_address_the_proxy_saw_is_counted(
    settings: Any, premium_user: User
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for n in range(LIMIT):
        token_login(f"guess{n}", "wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5")

    locked = token_login(
        "premium", PASSWORD, address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5"
    )
    other = token_login(
        "premium", PASSWORD, address="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.8"
    )

    assert_locked_json(locked)
    assert other.status_code == 200


def test_lockouts_are_listed_in_the_admin(staff: User, premium_user: User) -> None:
    for _ in range(LIMIT):
        token_login("premium", "wrong", address="192.0.2.44")
    admin = Client()
    admin.force_login(staff)

    attempts = admin.get("/admin/axes/accessattempt/")
    failures = admin.get("/admin/axes/accessfailurelog/")

    assert AccessAttempt.objects.filter(username="premium").exists()
    assert attempts.status_code == 200
    assert "premium" in attempts.content.decode()
    assert "192.0.2.44" in attempts.content.decode()
    assert failures.status_code == 200
    assert failures.content.decode().count("premium") >= LIMIT


@pytest.mark.parametrize("forwarded", ["not-an-address", "", "1.2.3.4, ", "::1]"])
def test_a_forwarded_for_that_names_no_address_is_no_error(
    settings: Any, premium_user: User, forwarded: str
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    wrong = token_login("premium", "wrong", HTTP_X_FORWARDED_FOR=forwarded)
    right = token_login("premium", PASSWORD, HTTP_X_FORWARDED_FOR=forwarded)

    assert wrong.status_code == 401
    assert right.status_code == 200


def test_a_login_without_a_client_address_is_recorded(staff: User) -> None:
    client = Client()
    client.force_login(staff)  # no REMOTE_ADDR at all

    assert client.get("/admin/").status_code == 200
