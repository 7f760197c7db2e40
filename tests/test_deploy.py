"""The deployment files agree with the code and the tests (no Docker engine runs them
here): the compose file parses, each long-running service has a health check, processes
start with the commands the Makefile and the integration tests use, and every variable is
one the settings read and .env.example documents."""

import json
import re
import secrets
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import clean_env

REPO = Path(__file__).resolve().parents[1]
COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
# Read by the web container's start command or by gunicorn, not by the settings.
NOT_SETTINGS = {"DEMO_PASSWORD", "WEB_CONCURRENCY"}


def command_of(service: str) -> str:
    command = SERVICES[service]["command"]
    return command if isinstance(command, str) else shlex.join(command)


def dockerfile_cmd() -> list[str]:
    line = next(
        line
        for line in (REPO / "deploy" / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD ")
    )
    return list(json.loads(line.removeprefix("CMD ")))


def settings_variables() -> set[str]:
    source = (REPO / "config" / "settings.py").read_text()
    patterns = (
        r'env_\w+\(\s*"([A-Z0-9_]+)"',
        r'os\.environ\.get\(\s*"([A-Z0-9_]+)"',
        r'"([A-Z0-9_]+)" (?:not )?in os\.environ',
    )
    return {name for pattern in patterns for name in re.findall(pattern, source)}


def test_the_compose_file_parses_and_every_long_running_service_is_health_checked() -> None:
    assert set(SERVICES) == {
        "postgres",
        "redis",
        "seaweedfs",
        "bucket",
        "web",
        "worker",
        "beat",
        "nginx",
    }
    for name, service in SERVICES.items():
        assert service.get("restart") == "no" or "healthcheck" in service, name
    assert "/readyz" in " ".join(SERVICES["web"]["healthcheck"]["test"])


def test_web_starts_after_its_services_and_the_bucket() -> None:
    assert SERVICES["web"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "bucket": {"condition": "service_completed_successfully"},
    }
    for name in ("worker", "beat", "nginx"):
        assert SERVICES[name]["depends_on"] == {"web": {"condition": "service_healthy"}}


def test_processes_start_as_the_makefile_and_the_tests_start_them() -> None:
    makefile = (REPO / "Makefile").read_text()
    for service, command in (
        ("worker", "celery -A config worker"),
        ("beat", "celery -A config beat"),
    ):
        assert command_of(service).startswith(command)
        assert f"$(BIN)/{command}" in makefile
    gunicorn = shlex.join(dockerfile_cmd())
    assert gunicorn.startswith("gunicorn config.wsgi:application")  # as procs.gunicorn
    assert gunicorn in command_of("web")
    web = command_of("web")
    assert "manage.py migrate" in web
    assert 'seed_demo --password "$$DEMO_PASSWORD"' in web  # $$: compose's escaped $


def test_nginx_runs_the_repository_config() -> None:
    volumes = SERVICES["nginx"]["volumes"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in volumes
    assert (REPO / "deploy" / "nginx.conf").exists()


def test_every_variable_is_read_by_the_settings_and_documented() -> None:
    app_variables = set(SERVICES["web"]["environment"]) - NOT_SETTINGS
    assert app_variables <= settings_variables(), app_variables - settings_variables()
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z0-9_]+)=", example, re.MULTILINE))
    interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_TEXT))
    assert interpolated <= documented, interpolated - documented


def test_every_variable_the_settings_read_is_in_the_readme_table() -> None:
    readme = (REPO / "README.md").read_text()
    tabled = {
        name
        for line in readme.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([A-Z0-9_]+)`", line.split("|")[1])
    }
    assert settings_variables() - tabled == set()


def test_the_example_environment_holds_no_secret() -> None:
    example = (REPO / ".env.example").read_text()
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "S3_SECRET_ACCESS_KEY", "DEMO_PASSWORD"):
        assert re.search(rf"^{name}=change-me$", example, re.MULTILINE), name


# --- the environment compose gives a service ---------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines, as compose reads an env file (comments and blanks skipped)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {
        key.strip(): value.strip().strip("'\"")
        for key, value in pairs
        if not key.lstrip().startswith("#")
    }


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ``$$``, ``$NAME``, ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``,
    ``${NAME:?error}`` and ``${NAME?error}``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match["braced"] or match["plain"]
        op, arg = match["op"] or "", match["arg"] or ""
        value = variables.get(name)
        unset = value is None or (op.startswith(":") and value == "")
        if op.endswith("?") and unset:
            raise ValueError(f"compose refuses to start: {arg or name}")
        if op.endswith("-") and unset:
            return arg
        return value or ""

    return _VARIABLE.sub(one, value)


def compose_environment(service: str, dotenv_text: str) -> dict[str, str]:
    """What the service's processes get: its env files, then its ``environment`` (anchors
    and merge keys resolved by the YAML loader), interpolated from ``.env``."""
    variables = dotenv(dotenv_text)
    definition = SERVICES[service]
    files = definition.get("env_file", [])
    environment: dict[str, str] = {}
    for file in [files] if isinstance(files, str) else files:
        path = file if isinstance(file, str) else file["path"]
        environment.update(dotenv((REPO / path).read_text()))
    declared = definition.get("environment", {})
    if isinstance(declared, list):
        declared = dict(item.split("=", 1) for item in declared)
    environment.update({name: str(value) for name, value in declared.items()})
    return {name: interpolate(value, variables) for name, value in environment.items()}


def operator_dotenv() -> str:
    """.env as the README says to make it: .env.example with every change-me replaced."""
    example = (REPO / ".env.example").read_text()
    return re.sub(r"=change-me$", lambda _: "=" + secrets.token_urlsafe(50), example, flags=re.M)


def settings_under(environment: Mapping[str, str], expression: str) -> Any:
    """``expression`` evaluated on the settings a process with ``environment`` gets."""
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({expression}))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=clean_env(DJANGO_SETTINGS_MODULE="config.settings", **environment),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


def test_compose_interpolates_as_compose_does() -> None:
    variables = {"SET": "x", "EMPTY": ""}
    assert interpolate("a$$b ${SET} $SET ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d}", variables) == (
        "a$b x x d d "
    )
    with pytest.raises(ValueError, match="set it"):
        interpolate("${EMPTY:?set it}", variables)


def test_web_trusts_exactly_one_proxy_in_compose() -> None:
    """nginx is web's only proxy: the client address the rate limits and the sign-in
    lockouts count is the one nginx saw, not whatever a client writes in X-Forwarded-For
    (with no proxy trusted, every client would share nginx's address and one could lock
    everyone out)."""
    environment = compose_environment("web", operator_dotenv())

    trusted = settings_under(
        environment,
        '[settings.REST_FRAMEWORK["NUM_PROXIES"], settings.SECURE_PROXY_SSL_HEADER, '
        "settings.USE_X_FORWARDED_HOST]",
    )

    assert trusted == [1, ["HTTP_X_FORWARDED_PROTO", "https"], True]
    assert environment.get("BEHIND_PROXY") == "1"
    assert (
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
        in (REPO / "deploy" / "nginx.conf").read_text()
    )
