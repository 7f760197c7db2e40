"""The deployment files agree with the code and the tests (no Docker engine runs them
here): the compose file parses, each long-running service has a health check, processes
start with the commands the Makefile and the integration tests use, and every variable is
one the settings read and .env.example documents."""

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

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
