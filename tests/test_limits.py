"""Request sizes (pixtier/common/limits.py) in-process: the answers a client gets before its
body is read. tests/test_http_servers.py sends the same over a socket to the real servers."""

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from tests.helpers import jpeg_bytes, upload

NOT_A_NUMBER = {"detail": "The Content-Length header must be a whole number of bytes."}


def claiming(client: Client, path: str, length: str, body: bytes = b"{}") -> Any:
    """A POST to ``path`` whose Content-Length header says ``length``, whatever it sends."""
    return client.generic(
        "POST", path, body, content_type="application/json", CONTENT_LENGTH=length
    )


# "\uff15" is a full-width 5: Python's int() takes it, a Content-Length may not.
@pytest.mark.parametrize("length", ["abc", "1e3", "5, 5", "-1", " 5x", "\uff15"])
@pytest.mark.parametrize("path", ["/healthz", "/api/v1/auth/token/", "/api/v1/images/"])
def test_a_content_length_that_is_not_a_whole_number_is_a_400(
    client: Client, path: str, length: str
) -> None:
    response = claiming(client, path, length)

    assert response.status_code == 400
    assert response.json() == NOT_A_NUMBER
    assert response["Content-Length"] == str(len(response.content))


@pytest.mark.parametrize("path", ["/api/v1/auth/token/", "/api/v1/no-such-thing/"])
def test_a_body_over_the_endpoints_limit_is_a_413_naming_both_sizes(
    client: Client, settings: Any, path: str
) -> None:
    settings.PIXTIER_MAX_REQUEST_BYTES = 2048

    response = claiming(client, path, "2049")

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is 2049 bytes; this endpoint takes at most 2048 bytes."
    }
    assert response["Content-Length"] == str(len(response.content))


def test_a_body_of_exactly_the_limit_goes_through(client: Client, settings: Any, db: None) -> None:
    settings.PIXTIER_MAX_REQUEST_BYTES = 2048
    body = b'{"username": "nobody", "password": "' + b"x" * 2000 + b'"}'
    body += b" " * (2048 - len(body))

    response = claiming(client, "/api/v1/auth/token/", "2048", body)

    assert response.status_code == 401  # judged by the endpoint: no such user


def test_an_upload_takes_the_upload_limit_not_the_request_limit(
    enterprise_user: User, settings: Any
) -> None:
    settings.PIXTIER_MAX_REQUEST_BYTES = 1024
    data = jpeg_bytes(200, 150)
    assert len(data) > 1024
    owner = APIClient()
    owner.force_authenticate(enterprise_user)

    assert upload(owner, data).status_code == 201
    # The same bytes to an endpoint that takes no file are refused unread.
    refused = claiming(owner, "/api/v1/auth/token/", str(len(data)), data)
    assert refused.status_code == 413


def test_an_upload_over_the_upload_limit_and_its_framing_is_refused_unread(
    client: Client, settings: Any
) -> None:
    settings.PIXTIER_MAX_UPLOAD_BYTES = 5000
    limit = 5000 + 1024 * 1024

    response = claiming(client, "/api/v1/images/", str(limit + 1))

    assert response.status_code == 413
    assert response.json()["detail"].endswith(f"this endpoint takes at most {limit} bytes.")
