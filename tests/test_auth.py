"""Signing in: JWT bearer tokens for clients, the session for the browsable API."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from pixtier.accounts.models import User
from tests.helpers import jpeg_bytes, upload

PASSWORD = "correct horse battery staple"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGIN = "/api/v1/auth/login/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/me/"


def tokens_for(username: str, password: str = PASSWORD) -> Any:
    return APIClient().post(TOKEN, {"username": username, "password": password}, format="json")


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def assert_unauthenticated(response: Any) -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) >= {"detail"}
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- JWT ---------------------------------------------------------------------------------


def test_a_username_and_password_get_an_access_and_a_refresh_token(
    premium_user: User,
) -> None:
    response = tokens_for("premium")

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}


def test_the_access_token_authenticates_as_a_bearer(premium_user: User) -> None:
    access = tokens_for("premium").json()["access"]

    response = bearer(access).get(ME)

    assert response.status_code == 200
    assert response.json()["username"] == "premium"


def test_a_bearer_can_upload_without_a_csrf_token(enterprise_user: User) -> None:
    access = tokens_for("enterprise").json()["access"]
    client = bearer(access)
    client.enforce_csrf_checks = True

    response = upload(client, jpeg_bytes())

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("username", "password"),
    [("premium", "wrong password"), ("nobody", PASSWORD), ("PREMIUM", PASSWORD)],
)
def test_wrong_credentials_get_401_and_no_tokens(
    premium_user: User, username: str, password: str
) -> None:
    response = tokens_for(username, password)

    assert response.status_code == 401
    assert "access" not in response.json()
    assert response.json()["detail"]


@pytest.mark.parametrize("body", [{}, {"username": "premium"}, {"password": PASSWORD}])
def test_missing_credentials_are_a_bad_request(premium_user: User, body: dict[str, str]) -> None:
    response = APIClient().post(TOKEN, body, format="json")

    assert response.status_code == 400
    assert set(response.json()) <= {"username", "password"}


def test_the_refresh_token_gets_a_new_working_access_token(premium_user: User) -> None:
    refresh = tokens_for("premium").json()["refresh"]

    response = APIClient().post(REFRESH, {"refresh": refresh}, format="json")

    assert response.status_code == 200
    assert bearer(response.json()["access"]).get(ME).status_code == 200


def test_a_refresh_token_is_not_an_access_token(premium_user: User) -> None:
    refresh = tokens_for("premium").json()["refresh"]

    assert_unauthenticated(bearer(refresh).get(ME))


def test_an_access_token_is_not_a_refresh_token(premium_user: User) -> None:
    access = tokens_for("premium").json()["access"]

    response = APIClient().post(REFRESH, {"refresh": access}, format="json")

    assert response.status_code == 401
    assert "access" not in response.json()


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer ", "Bearer a.b.c", "Token abc"])
def test_a_malformed_authorization_header_is_refused(premium_user: User, header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(ME)

    assert_unauthenticated(response)
    assert "premium" not in str(response.json())


def test_a_tampered_access_token_is_refused(premium_user: User) -> None:
    access = tokens_for("premium").json()["access"]
    header, payload, signature = access.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]

    assert_unauthenticated(bearer(f"{header}.{payload}.{flipped}").get(ME))


def test_an_access_token_expires(time_machine: Any, premium_user: User) -> None:
    time_machine.move_to(datetime(2026, 11, 22, 10, 0, tzinfo=UTC), tick=False)
    tokens = tokens_for("premium").json()

    time_machine.shift(timedelta(minutes=14))
    assert bearer(tokens["access"]).get(ME).status_code == 200
    time_machine.shift(timedelta(minutes=2))
    assert_unauthenticated(bearer(tokens["access"]).get(ME))
    # The refresh token still gets a fresh access token.
    fresh = APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert bearer(fresh.json()["access"]).get(ME).status_code == 200


def test_a_deactivated_users_tokens_stop_working(premium_user: User) -> None:
    tokens = tokens_for("premium").json()
    assert bearer(tokens["access"]).get(ME).status_code == 200

    premium_user.is_active = False
    premium_user.save()

    assert_unauthenticated(bearer(tokens["access"]).get(ME))
    refreshed = APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 401
    assert "access" not in refreshed.json()
    assert tokens_for("premium").status_code == 401


def test_a_deleted_users_token_stops_working(premium_user: User) -> None:
    access = tokens_for("premium").json()["access"]

    premium_user.delete()

    assert_unauthenticated(bearer(access).get(ME))


def test_a_changed_tier_is_seen_by_an_old_token(premium_user: User, tier: Any) -> None:
    access = tokens_for("premium").json()["access"]

    premium_user.tier = tier("Basic")
    premium_user.save()

    assert bearer(access).get(ME).json()["tier"]["name"] == "Basic"


# --- token lifecycle: password changes, rotation, reuse -----------------------------------


def refresh_with(refresh: str) -> Any:
    return APIClient().post(REFRESH, {"refresh": refresh}, format="json")


def test_a_password_change_ends_every_token_issued_before_it(premium_user: User) -> None:
    tokens = tokens_for("premium").json()
    assert bearer(tokens["access"]).get(ME).status_code == 200

    premium_user.set_password("a new password entirely")
    premium_user.save()

    refused = bearer(tokens["access"]).get(ME)
    assert_unauthenticated(refused)
    assert "password" in refused.json()["detail"]
    refreshed = refresh_with(tokens["refresh"])
    assert refreshed.status_code == 401
    assert "access" not in refreshed.json()
    fresh = tokens_for("premium", "a new password entirely").json()
    assert bearer(fresh["access"]).get(ME).status_code == 200


def test_a_password_changed_by_an_admin_ends_the_users_tokens(
    premium_user: User, make_user: Any
) -> None:
    make_user(username="root", is_staff=True, is_superuser=True)
    tokens = tokens_for("premium").json()
    admin = Client()
    admin.login(username="root", password=PASSWORD)

    changed = admin.post(
        f"/admin/accounts/user/{premium_user.pk}/password/",
        {"password1": "a new password entirely", "password2": "a new password entirely"},
    )

    assert changed.status_code == 302
    assert_unauthenticated(bearer(tokens["access"]).get(ME))
    assert refresh_with(tokens["refresh"]).status_code == 401


def test_saving_a_user_without_a_new_password_keeps_their_tokens(
    premium_user: User, tier: Any
) -> None:
    tokens = tokens_for("premium").json()

    premium_user.email = "new@example.com"
    premium_user.save()
    premium_user.tier = tier("Basic")
    premium_user.save(update_fields=["tier"])

    assert bearer(tokens["access"]).get(ME).status_code == 200
    assert refresh_with(tokens["refresh"]).status_code == 200


def test_a_token_without_the_credential_stamp_is_refused(premium_user: User) -> None:
    # Signed with the right key, as tokens were before the stamp existed.
    access = AccessToken.for_user(premium_user)

    assert_unauthenticated(bearer(str(access)).get(ME))


def test_a_refresh_answers_a_new_pair_and_the_old_refresh_token_works_once(
    premium_user: User,
) -> None:
    first = tokens_for("premium").json()

    second = refresh_with(first["refresh"])

    assert second.status_code == 200
    assert set(second.json()) == {"access", "refresh"}
    assert second.json()["refresh"] != first["refresh"]
    assert bearer(second.json()["access"]).get(ME).status_code == 200
    assert refresh_with(second.json()["refresh"]).status_code == 200


def test_a_reused_refresh_token_revokes_every_refresh_token_of_the_account(
    premium_user: User,
) -> None:
    stolen = tokens_for("premium").json()["refresh"]
    other_device = tokens_for("premium").json()["refresh"]
    thief = refresh_with(stolen).json()

    replay = refresh_with(stolen)  # the victim's client, still holding the old one

    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]
    assert refresh_with(thief["refresh"]).status_code == 401
    assert refresh_with(other_device).status_code == 401
    assert tokens_for("premium").status_code == 200  # signing in again works


def test_a_deleted_users_refresh_token_is_refused(premium_user: User) -> None:
    refresh = tokens_for("premium").json()["refresh"]

    premium_user.delete()

    response = refresh_with(refresh)
    assert response.status_code == 401
    assert response.json()["detail"]


# --- session (browsable API) -------------------------------------------------------------


def csrf_token(client: Client) -> str:
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert match, "the login form carries a CSRF token"
    return match.group(1)


def login(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post(
        LOGIN,
        {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": csrf_token(client),
            "next": "/api/v1/images/",
        },
    )


def test_the_login_form_signs_in_to_the_browsable_api(premium_user: User) -> None:
    client = Client(enforce_csrf_checks=True)

    response = login(client, "premium")

    assert response.status_code == 302
    assert response["Location"] == "/api/v1/images/"
    page = client.get(ME, HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    assert "premium" in page.content.decode()
    assert client.get(ME, HTTP_ACCEPT="application/json").json()["username"] == "premium"


def test_the_login_form_lands_on_the_api_root_and_never_on_another_site(
    premium_user: User,
) -> None:
    for next_url in ("", "https://evil.example/", "//evil.example/"):
        client = Client(enforce_csrf_checks=True)
        body = {"username": "premium", "password": PASSWORD, "next": next_url}

        response = client.post(LOGIN, {**body, "csrfmiddlewaretoken": csrf_token(client)})

        assert response.status_code == 302
        assert response["Location"] == "/api/v1/"


def test_the_login_form_refuses_a_wrong_password(premium_user: User) -> None:
    client = Client(enforce_csrf_checks=True)

    response = login(client, "premium", "wrong password")

    assert response.status_code == 200  # the form again, with an error
    assert "sessionid" not in client.cookies
    assert_unauthenticated(client.get(ME, HTTP_ACCEPT="application/json"))


def test_the_login_form_needs_its_csrf_token(premium_user: User) -> None:
    client = Client(enforce_csrf_checks=True)

    response = client.post(LOGIN, {"username": "premium", "password": PASSWORD})

    assert response.status_code == 403
    assert_unauthenticated(client.get(ME, HTTP_ACCEPT="application/json"))


def test_a_session_write_needs_the_csrf_token(enterprise_user: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    login(client, "enterprise")

    refused = upload(client, jpeg_bytes())
    client.credentials(HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    accepted = upload(client, jpeg_bytes())

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert accepted.status_code == 201, accepted.content


def test_a_session_client_can_use_the_api_with_django_login(premium_user: User) -> None:
    client = APIClient()
    assert client.login(username="premium", password=PASSWORD)

    assert client.get(ME).json()["username"] == "premium"


def test_logging_out_ends_the_session(premium_user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    login(client, "premium")
    assert client.get(ME, HTTP_ACCEPT="application/json").status_code == 200

    client.post(LOGOUT, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})

    assert_unauthenticated(client.get(ME, HTTP_ACCEPT="application/json"))


def test_owner_links_serve_the_bytes_to_a_bearer_and_to_a_session(
    enterprise_user: User,
) -> None:
    data = jpeg_bytes(800, 600)
    image = upload(bearer(tokens_for("enterprise").json()["access"]), data).json()
    session = APIClient()
    session.login(username="enterprise", password=PASSWORD)

    by_bearer = bearer(tokens_for("enterprise").json()["access"]).get(image["original"])
    by_session = session.get(image["thumbnails"][0]["url"])

    assert by_bearer.status_code == 200
    assert b"".join(by_bearer.streaming_content) == data  # type: ignore[attr-defined]
    assert by_session.status_code == 200
    assert by_session["Content-Type"] == "image/jpeg"
    assert_unauthenticated(APIClient().get(image["original"]))


def test_a_deactivated_users_session_stops_working(premium_user: User) -> None:
    client = APIClient()
    client.login(username="premium", password=PASSWORD)

    premium_user.is_active = False
    premium_user.save()

    assert_unauthenticated(client.get(ME))


# --- anonymous ---------------------------------------------------------------------------


def test_an_anonymous_request_is_told_how_to_authenticate(db: None) -> None:
    response = APIClient().get(ME)

    assert_unauthenticated(response)
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_the_browsable_api_offers_the_login_to_an_anonymous_visitor(db: None) -> None:
    response = Client().get("/api/v1/", HTTP_ACCEPT="text/html")

    assert response.status_code == 401
    assert LOGIN in response.content.decode()


def test_a_password_is_taken_as_typed_spaces_at_its_ends_included(
    make_user: Any,
) -> None:
    make_user("Premium", username="spacey", password=" two spaces  ")

    assert tokens_for("spacey", " two spaces  ").status_code == 200
    assert tokens_for("spacey", "two spaces").status_code == 401
