"""What a client can send to the real servers the README names: ``runserver`` (``make
run``) and gunicorn, each started here on the embedded database (passwords hashed fast:
tests/server_settings.py) and spoken to over a socket. Malformed headers get 400, never a
500; a body larger than its endpoint takes gets 413 before it is read; password guessing
is locked out."""

import itertools
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest

from tests.integration.procs import REPO, free_port, gunicorn, process, wait_http

# The servers started here are embedded (SQLite, local files) whatever the suite's own
# database: once, in the embedded pass, is enough.
pytestmark = pytest.mark.skipif(
    "DATABASE_URL" in os.environ, reason="starts embedded servers: the embedded pass runs it"
)

PASSWORD = "correct horse battery staple"
LIMIT = 3
SERVERS = ("runserver", "gunicorn")
# Each request comes from an address of its own (the servers trust one proxy, as compose
# runs them), so one test's lockout leaves the others alone.
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An embedded Pixtier (SQLite, local files, no Redis) migrated, with users."""
    var = tmp_path_factory.mktemp("var")
    env = {
        "PIXTIER_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
        "MEDIA_ROOT": str(var / "media"),
        "STORAGE_BACKEND": "local",
        "REDIS_URL": "",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "BACKGROUND_MODE": "off",
        "LOGIN_FAILURE_LIMIT": str(LIMIT),
        "THROTTLE_TOKEN": "off",
        "BEHIND_PROXY": "1",
        "DJANGO_SETTINGS_MODULE": "tests.server_settings",
    }
    manage = [sys.executable, "manage.py"]
    run: Any = {"cwd": REPO, "env": {**os.environ, **env}, "check": True, "capture_output": True}
    create = (  # one process: migrate, then the users
        "from django.core.management import call_command\n"
        "call_command('migrate', interactive=False, verbosity=0)\n"
        "from pixtier.accounts.models import User\n"
        f"for server in {SERVERS!r}:\n"
        "    for role in ('user', 'victim', 'admin', 'api'):\n"
        f"        User.objects.create_user(f'{{server}}-{{role}}', password={PASSWORD!r},\n"
        "                                 is_staff=role == 'admin')\n"
    )
    subprocess.run([*manage, "shell", "-c", create], **run)
    return env


@pytest.fixture(scope="module", params=SERVERS)
def server(
    request: pytest.FixtureRequest, server_env: dict[str, str], tmp_path_factory: Any
) -> Iterator[tuple[str, int]]:
    """(the server's name, its port) on 127.0.0.1."""
    log = tmp_path_factory.mktemp("log") / f"{request.param}.log"
    if request.param == "runserver":
        port = free_port()
        args = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
        with process(args, env=server_env, log=log):
            wait_http(f"http://127.0.0.1:{port}/healthz")
            yield request.param, port
    else:
        with gunicorn(env=server_env, log=log) as url:
            yield request.param, int(url.rsplit(":", 1)[1])


def exchange(port: int, raw: bytes, *, timeout: float = 20) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` bytes; the status, headers (lower-case names) and body answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if _complete(answer):
                    break
        except TimeoutError:
            pytest.fail(f"no complete answer within {timeout} s: {answer[:300]!r}")
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def _complete(answer: bytes) -> bool:
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return length is not None and len(body) >= int(length.group(1))


def request(
    method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    headers = headers or {}
    if "X-Forwarded-For" not in headers:
        headers = {**headers, "X-Forwarded-For": next(_addresses)}
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- malformed headers -------------------------------------------------------------------


@pytest.mark.parametrize("length", ["abc", "1e3", "5, 5", "-1", " 5x"])
@pytest.mark.parametrize("path", ["/healthz", "/api/v1/auth/token/", "/admin/login/"])
def test_a_malformed_content_length_is_a_400_never_a_500(
    server: tuple[str, int], path: str, length: str
) -> None:
    status, _, _ = exchange(
        server[1], request("POST", path, headers={"Content-Length": length}, body=b"12345")
    )

    assert status == 400


@pytest.mark.parametrize(
    ("method", "path", "header", "value"),
    [
        ("GET", "/api/v1/me/", "Host", "bad host!"),
        ("GET", "/api/v1/me/", "Authorization", "Bearer \xff\xfe"),
        ("GET", "/api/v1/me/", "Cookie", "sessionid=\x00; csrftoken"),
        ("GET", "/api/v1/", "Accept", "garbage/;q=x"),
        ("GET", "/api/v1/", "If-None-Match", '"unterminated'),
        ("GET", "/api/v1/", "If-Modified-Since", "yesterday"),
        ("GET", "/api/v1/shared/x/", "Range", "bytes=abc-"),
        ("GET", "/api/v1/", "X-Forwarded-For", "not-an-address"),
        ("GET", "/api/v1/", "X-Forwarded-Proto", "\xff"),
        ("POST", "/api/v1/auth/token/", "Content-Type", "multipart/form-data"),
        ("POST", "/api/v1/auth/token/", "Content-Type", "application/json; charset=nope"),
        ("POST", "/api/v1/auth/token/", "X-Forwarded-For", "not-an-address"),
        ("POST", "/admin/login/", "Content-Type", "multipart/form-data; boundary="),
    ],
)
def test_a_malformed_header_is_a_4xx_never_a_5xx(
    server: tuple[str, int], method: str, path: str, header: str, value: str
) -> None:
    body = b'{"username": "nobody", "password": "x"}' if method == "POST" else b""
    headers = {header: value, "Content-Length": str(len(body))}
    if header != "Content-Type" and method == "POST":
        headers["Content-Type"] = "application/json"
    raw = request(method, path, headers=headers, body=body)
    if header == "Host":
        raw = raw.replace(b"Host: 127.0.0.1\r\n", b"")

    status, _, answer = exchange(server[1], raw)

    assert 400 <= status < 500, answer[:500]


# --- request size ------------------------------------------------------------------------

HUGE = 300 * 1024 * 1024


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/auth/token/", "multipart/form-data; boundary=x"),
        ("/api/v1/auth/token/refresh/", "application/json"),
        ("/api/v1/auth/login/", "application/x-www-form-urlencoded"),
        ("/admin/login/", "multipart/form-data; boundary=x"),
        ("/api/v1/images/00000000-0000-0000-0000-000000000000/expiring-links/", "application/json"),
    ],
)
def test_a_body_larger_than_its_endpoint_takes_is_a_413_before_it_is_read(
    server: tuple[str, int], path: str, content_type: str
) -> None:
    # Only the headers and a few bytes are sent: an answer at all means nothing waited
    # for (or stored) the 300 MiB announced.
    head = {"Content-Length": str(HUGE), "Content-Type": content_type}
    started = time.monotonic()

    status, headers, body = exchange(server[1], request("POST", path, headers=head, body=b"--x"))

    assert status == 413
    assert headers["content-type"] == "application/json"
    assert "at most 1048576 bytes" in json.loads(body)["detail"]
    assert time.monotonic() - started < 15


def test_an_upload_keeps_its_own_limit(server: tuple[str, int]) -> None:
    head = {
        "Content-Length": str(HUGE),
        "Content-Type": "multipart/form-data; boundary=x",
        "Authorization": "Bearer not-checked-before-the-size",
    }

    status, _, body = exchange(
        server[1], request("POST", "/api/v1/images/", headers=head, body=b"--x")
    )

    assert status == 413
    assert f"at most {20 * 1024 * 1024 + 1024 * 1024} bytes" in json.loads(body)["detail"]


def test_a_small_body_still_signs_in(server: tuple[str, int]) -> None:
    body = json.dumps({"username": f"{server[0]}-user", "password": PASSWORD}).encode()
    head = {"Content-Type": "application/json", "Content-Length": str(len(body))}

    status, _, answer = exchange(
        server[1], request("POST", "/api/v1/auth/token/", headers=head, body=body)
    )

    assert status == 200, answer
    assert set(json.loads(answer)) == {"access", "refresh"}


# --- password guessing -------------------------------------------------------------------


def token_attempt(
    port: int, username: str, password: str, address: str = "192.0.2.1"
) -> tuple[int, dict[str, str], Any]:
    body = json.dumps({"username": username, "password": password}).encode()
    head = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    head["X-Forwarded-For"] = address
    status, headers, answer = exchange(
        port, request("POST", "/api/v1/auth/token/", headers=head, body=body)
    )
    return status, headers, json.loads(answer)


def test_the_token_endpoint_locks_out_password_guessing(server: tuple[str, int]) -> None:
    name, port = server
    guesses = [
        token_attempt(port, f"{name}-victim", f"guess {n}", f"203.0.113.{n}")[0]
        for n in range(LIMIT)
    ]

    status, headers, answer = token_attempt(port, f"{name}-victim", PASSWORD, "203.0.113.99")

    assert guesses == [401] * (LIMIT - 1) + [429]
    assert status == 429
    assert "Too many failed sign-ins" in answer["detail"]
    assert headers["retry-after"] == str(15 * 60)


def test_an_address_guessing_at_many_usernames_is_locked_out(server: tuple[str, int]) -> None:
    name, port = server
    for n in range(LIMIT):
        token_attempt(port, f"nobody-{n}", "guess", address="192.0.2.77")

    locked = token_attempt(port, f"{name}-user", PASSWORD, address="192.0.2.77")
    elsewhere = token_attempt(port, f"{name}-user", PASSWORD, address="192.0.2.78")

    assert locked[0] == 429
    assert elsewhere[0] == 200


def form_attempt(port: int, path: str, username: str, password: str) -> tuple[int, str]:
    address = next(_addresses)  # the form and its answer from one address
    status, headers, page = exchange(
        port, request("GET", path, headers={"X-Forwarded-For": address})
    )
    assert status == 200
    cookie = SimpleCookie(headers["set-cookie"])["csrftoken"].value
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    form = (
        f"csrfmiddlewaretoken={token.group(1).decode()}&username={username}&password="
        + password.replace(" ", "+")
    ).encode()
    head = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": str(len(form)),
        "Cookie": f"csrftoken={cookie}",
        "X-Forwarded-For": address,
    }
    status, _, answer = exchange(port, request("POST", path, headers=head, body=form))
    return status, answer.decode()


@pytest.mark.parametrize("path", ["/admin/login/", "/api/v1/auth/login/"])
def test_a_login_form_locks_out_password_guessing_with_a_page(
    server: tuple[str, int], path: str
) -> None:
    name, port = server
    username = f"{name}-{'admin' if path.startswith('/admin/') else 'api'}"
    for n in range(LIMIT - 1):
        assert form_attempt(port, path, username, f"guess {n}")[0] == 200  # the form again

    locking = form_attempt(port, path, username, f"guess {LIMIT}")
    status, page = form_attempt(port, path, username, PASSWORD)

    assert locking[0] == 429
    assert status == 429
    assert "Too many failed sign-ins" in page
    assert "<html" in page
