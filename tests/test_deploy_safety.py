"""Deploy safety: production settings pass `check --deploy`, refuse a missing or weak
SECRET_KEY, turn on secure cookies, the https redirect and HSTS with HTTPS=1; the admin
validates passwords and lets in only staff; the repository holds no secret."""

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from pixtier.accounts.models import Tier, User
from tests.helpers import clean_env

REPO = Path(__file__).resolve().parents[1]


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``manage.py *args`` in a fresh process with exactly the deployment's variables (none
    inherited from this test run's, which may name services or a key of their own)."""
    return python("manage.py", *args, env=env, tmp_path=tmp_path)


def python(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=clean_env(PIXTIER_VAR_DIR=str(tmp_path / "var"), **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def production(tmp_path: Path) -> dict[str, str]:
    """What a production deployment sets (the services themselves are not needed here)."""
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "pixtier.example.com",
        "BEHIND_PROXY": "1",
        "HTTPS": "1",
    }


def test_check_deploy_is_clean_with_production_settings(
    production: dict[str, str], tmp_path: Path
) -> None:
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production, tmp_path=tmp_path
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (1 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_check_deploy_says_what_plain_http_lacks(
    production: dict[str, str], tmp_path: Path
) -> None:
    """The check is not silenced wholesale: without HTTPS it names each missing guard."""
    del production["HTTPS"]

    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production, tmp_path=tmp_path
    )

    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr, result.stderr


def start(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """What every process (manage.py, gunicorn, Celery) does first: import the settings,
    where the key is checked (a third of the CPU of ``manage.py check``)."""
    return python("-c", "import config.settings", env=env, tmp_path=tmp_path)


def test_secret_key_is_required_when_debug_is_off(
    production: dict[str, str], tmp_path: Path
) -> None:
    del production["SECRET_KEY"]

    result = start(production, tmp_path)

    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off"
        in result.stderr
    )
    assert not (tmp_path / "var" / "secret_key").exists()  # none made up in its place


@pytest.mark.parametrize(
    "key",
    [
        "change-me",
        "test-only-secret-key-long-enough-for-hs256-0000",  # 47 characters
        "ab" * 40,  # long, but two different characters
        "django-insecure-" + secrets.token_urlsafe(50),  # what startproject writes
    ],
    ids=["placeholder", "short", "repetitive", "startproject"],
)
def test_a_weak_secret_key_is_refused_when_debug_is_off(
    production: dict[str, str], tmp_path: Path, key: str
) -> None:
    production["SECRET_KEY"] = key

    result = start(production, tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY is too weak for DEBUG off" in result.stderr
    assert key not in result.stdout + result.stderr  # the message never repeats it


def test_a_weak_secret_key_is_fine_for_local_debugging(tmp_path: Path) -> None:
    result = start({"DEBUG": "1", "SECRET_KEY": "dev"}, tmp_path)

    assert result.returncode == 0, result.stderr


SECURITY_SETTINGS = (
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
)


def security_settings(env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    code = (
        "import json; import config.settings as settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {SECURITY_SETTINGS!r}}}))"
    )
    result = python("-c", code, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    values: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return values


@pytest.mark.parametrize(
    ("tls", "expected"),
    [
        ({}, [False, False, False, 0, False, False]),
        ({"HTTPS": "1"}, [True, True, True, 31_536_000, True, False]),
        (
            {"HTTPS": "1", "HSTS_SECONDS": "600", "HSTS_INCLUDE_SUBDOMAINS": "0"},
            [True, True, True, 600, False, False],
        ),
        ({"HTTPS": "1", "HSTS_PRELOAD": "1"}, [True, True, True, 31_536_000, True, True]),
    ],
    ids=["plain-http", "https", "https-short-hsts", "https-preload"],
)
def test_https_turns_on_the_redirect_secure_cookies_and_hsts(
    production: dict[str, str], tmp_path: Path, tls: dict[str, str], expected: list[Any]
) -> None:
    del production["HTTPS"]

    values = security_settings({**production, **tls}, tmp_path)

    assert values == dict(zip(SECURITY_SETTINGS, expected, strict=True))


def test_with_https_plain_http_is_redirected_but_probes_are_not(
    settings: Any, client: Client
) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True

    redirected = client.get("/api/v1/")
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/api/v1/"
    assert client.get("/healthz").status_code == 200
    secure = client.get("/api/v1/", secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


# --- the admin ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        ("password", "This password is too common."),
        ("8264019375", "This password is entirely numeric."),
        ("short1!", "This password is too short. It must contain at least 8 characters."),
        ("newbie-account", "The password is too similar to the username."),
    ],
)
def test_the_admin_refuses_a_weak_password_for_a_new_user(
    admin_client: Client, password: str, complaint: str
) -> None:
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "newbie-account",
            "tier": str(Tier.objects.get(name="Basic").pk),
            "usable_password": "true",
            "password1": password,
            "password2": password,
        },
    )

    assert response.status_code == 200  # the form again, not a redirect to the new user
    assert complaint in response.content.decode()
    assert not User.objects.filter(username="newbie-account").exists()


@pytest.mark.parametrize("path", ["/admin/", "/admin/accounts/user/", "/admin/images/image/"])
def test_the_admin_lets_in_only_staff(
    make_user: Any, client: Client, admin_client: Client, path: str
) -> None:
    assert admin_client.get(path).status_code == 200

    for user in (None, make_user("Enterprise", username="customer")):
        if user is not None:
            client.force_login(user)
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/admin/login/?next={path}"


# --- the repository ----------------------------------------------------------------------

# Dev and test defaults the docs name as such: SeaweedFS's loopback credentials,
# .env.example's placeholders, the test suite's signing key, the Docker build's throwaway
# key for collectstatic.
DOCUMENTED_DEFAULTS = {
    "pixtier",
    "pixtier-secret",
    "change-me",
    "test-only-secret-key-long-enough-for-hs256-and-django-checks-0000",
    "collectstatic-only-signs-nothing-but-must-look-strong-0123456789",
}
# Secrets with a recognisable shape, wherever they appear.
SHAPED_SECRETS = re.compile(
    r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key id
    r"|(?i:aws_secret_access_key)\W{1,4}[A-Za-z0-9/+=]{40}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{36}\b"  # GitHub token
    r"|\bxox[abpr]-[A-Za-z0-9-]{10,}"  # Slack token
    r"|\bsk_live_[A-Za-z0-9]{16,}"  # Stripe key
)
# A credential-like name given a literal value: NAME=value, NAME: value, "name": "value",
# NAME = "value", and ${NAME:-default} with its default. (A bare "token" is left out: in
# this code it names URL routes, not credentials.)
ASSIGNED = re.compile(
    r"""(?ix)
    (?P<name>[\w.-]*(?:password|passwd|secret|api_?key|access_?key)[\w-]*|[\w.-]+_token)
    ["']?\s*(?P<sep>:-|:\?|:=|:|=)\s*
    (?P<value>"[^"]*"|'[^']*'|[^\s}]+)
    """
)


def repository_files() -> list[Path]:
    """What is or would be committed: tracked files and untracked ones not ignored."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO / name for name in listed.decode().split("\0") if name]


def literal(match: re.Match[str], *, python: bool) -> str | None:
    """The literal a credential-like name is given, or None for a reference (a variable,
    a call, a lookup), a placeholder or nothing."""
    value = match["value"]
    if match["sep"] == ":?":
        return None  # ${NAME:?message}: required, with no default
    quoted = len(value) >= 2 and value[0] in {'"', "'"} and value[-1] == value[0]
    if python and not quoted:
        return None  # an expression: settings read, a function called
    value = value.strip("\"',;")
    if defaulted := re.fullmatch(r"\$\{\w+:-([^}]*)\}", value.replace("$$", "$")):
        value = defaulted.group(1)  # ${NAME:-default}: the default is committed
    if not value.strip(".…") or value.startswith(("$", "<", "{", "%")):
        return None
    if any(mark in value for mark in "([") or value.startswith("os.environ"):
        return None
    return value


def leaks(relative: str, text: str) -> list[str]:
    """What in this file looks like a secret (named, and cut short: never the whole).

    Test files may spell out passwords for the users they make (those protect nothing and
    the tests need them); they are still searched for keys and tokens of real services.
    """
    found = [f"{relative}: {m.group(0)[:16]}..." for m in SHAPED_SECRETS.finditer(text)]
    if not relative.startswith("tests/"):
        for match in ASSIGNED.finditer(text):
            value = literal(match, python=relative.endswith(".py"))
            if value is not None and value not in DOCUMENTED_DEFAULTS:
                found.append(f"{relative}: {match['name']} = {value[:3]}...")
    return found


@pytest.mark.parametrize(
    ("relative", "text"),
    [
        ("config/settings.py", 'DATABASE_PASSWORD = "hunter2hunter2"'),
        ("deploy/app.env", "SECRET_KEY=0a8f6c2e9b1d4f7a"),
        ("deploy/run.sh", 'DB_PASSWORD="${DB_PASSWORD:-s3cr3t-default}"'),
        ("docker-compose.yml", "      S3_SECRET_ACCESS_KEY: wJalrXUtnFEMI"),
        ("pixtier/x.py", 'client(api_key="live-4f1c9b7a")'),
        ("tests/x.py", "ID = 'AKIA" + "IOSFODNN7EXAMPLE'"),
        ("deploy/key.pem", "-----BEGIN RSA PRIVATE" + " KEY-----\nMIIE..."),
        ("README.md", "export GITHUB_TOKEN=gh" + "p_" + "a" * 36),
    ],
)
def test_the_scan_finds_what_it_looks_for(relative: str, text: str) -> None:
    assert leaks(relative, text)


def test_no_secret_or_credential_is_in_the_repository() -> None:
    found = []
    for path in repository_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue  # images; a file deleted but not yet committed
        found += leaks(path.relative_to(REPO).as_posix(), text)
    assert found == []


def test_local_secrets_stay_out_of_git() -> None:
    """The embedded mode's generated key lives in var/; compose reads .env."""
    repository_files()  # skips outside a git checkout
    for path in ("var/secret_key", ".env"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
        assert ignored.returncode == 0, f"{path} is not ignored by git"
