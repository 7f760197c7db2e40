"""Settings read and never write: importing them makes no file and no folder, the embedded
mode makes its own on first use, a deployment runs on a read-only filesystem, and any
variable (secrets above all) may come from a file (Docker secrets)."""

import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.embedded import prepare
from config.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_required,
    env_set,
    env_str,
)
from tests.helpers import clean_env

REPO = Path(__file__).resolve().parents[1]
PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def run(
    argv: list[str], *, env: dict[str, str], read_only: list[Path] | None = None
) -> subprocess.CompletedProcess[str]:
    """``argv`` in a fresh Python process with exactly ``env`` (nothing inherited from this
    test run); with ``read_only``, in a mount namespace where those folders are read-only."""
    command = [sys.executable, *argv]
    if read_only is not None:
        binds = " && ".join(
            f"mount --bind -o ro {shlex.quote(str(p))} {shlex.quote(str(p))}" for p in read_only
        )
        command = ["unshare", "--mount", "sh", "-c", f"{binds} && exec {shlex.join(command)}"]
    return subprocess.run(
        command,
        cwd=REPO,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def production(tmp_path: Path) -> dict[str, str]:
    return {
        "PIXTIER_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": "postgres://pixtier@127.0.0.1:5432/pixtier",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "pixtier.example.com",
    }


def files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("mode", ["embedded", "production"])
def test_importing_the_settings_writes_nothing(tmp_path: Path, mode: str) -> None:
    env = (
        production(tmp_path) if mode == "production" else {"PIXTIER_VAR_DIR": str(tmp_path / "var")}
    )

    before = files_under(tmp_path)

    result = run(["-c", "import config.settings"], env=env)

    assert result.returncode == 0, result.stderr
    assert files_under(tmp_path) == before  # no var/, no secret key, no static folder


def test_the_embedded_mode_makes_its_folders_and_key_on_first_use(tmp_path: Path) -> None:
    env = {"PIXTIER_VAR_DIR": str(tmp_path / "var")}

    first = run(["manage.py", "shell", "-v", "0", "-c", PRINT_KEY], env=env)
    again = run(["manage.py", "shell", "-v", "0", "-c", PRINT_KEY], env=env)

    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "secret_key"
    assert first.stdout.strip() == key_file.read_text() == again.stdout.strip()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "var" / "static").is_dir()


def test_processes_starting_together_agree_on_the_generated_key(
    tmp_path: Path, settings: Any
) -> None:
    """Each made up a key at import; the first to keep it wins, the others adopt it."""
    key_file = tmp_path / "var" / "secret_key"
    settings.PIXTIER_LOCAL_DIRS = [tmp_path / "var" / "static"]
    settings.PIXTIER_SECRET_KEY_FILE = key_file
    settings.SECRET_KEY = "made-up-by-the-first-process"

    prepare()
    settings.SECRET_KEY = "made-up-by-the-second-process"
    prepare()

    assert settings.SECRET_KEY == key_file.read_text() == "made-up-by-the-first-process"
    assert (tmp_path / "var" / "static").is_dir()
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["secret_key", "static"]


def test_a_deployment_runs_on_a_read_only_filesystem(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or run(["-c", ""], env={}, read_only=[tmp_path]).returncode:
        pytest.skip("needs `unshare --mount` (root with CAP_SYS_ADMIN) to mount read-only")
    env = production(tmp_path)
    env["STATIC_ROOT"] = str(tmp_path / "static")
    (tmp_path / "static").mkdir()  # collected when the image was built

    result = run(["manage.py", "check", "--deploy"], env=env, read_only=[REPO, tmp_path])

    assert result.returncode == 0, result.stderr
    assert "Read-only file system" not in result.stderr


def test_the_secret_key_may_come_from_a_file(tmp_path: Path) -> None:
    env = production(tmp_path)
    key = env.pop("SECRET_KEY")
    (tmp_path / "secret_key").write_text(key + "\n")
    env["SECRET_KEY_FILE"] = str(tmp_path / "secret_key")

    result = run(["manage.py", "shell", "-v", "0", "-c", PRINT_KEY], env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == key
    assert not (tmp_path / "var" / "secret_key").exists()  # none generated beside it


def test_any_variable_may_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "password").write_text("s3cr3t\n")
    (tmp_path / "seconds").write_text("42")
    # The services pass sets both as plain variables; a variable comes from one place.
    monkeypatch.delenv("S3_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.delenv("DATABASE_CONN_MAX_AGE", raising=False)
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY_FILE", str(tmp_path / "password"))
    monkeypatch.setenv("DATABASE_CONN_MAX_AGE_FILE", str(tmp_path / "seconds"))

    assert env_str("S3_SECRET_ACCESS_KEY", "") == "s3cr3t"
    assert env_int("DATABASE_CONN_MAX_AGE", 60) == 42


def test_a_variable_given_twice_or_from_a_missing_file_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "secret_key"))
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY or SECRET_KEY_FILE, not both"):
        env_str("SECRET_KEY", "")

    monkeypatch.delenv("SECRET_KEY")
    with pytest.raises(ImproperlyConfigured, match=r"SECRET_KEY_FILE=.* cannot be read"):
        env_str("SECRET_KEY", "")


# What an operator writes in the environment, read as the settings read it: a malformed
# value stops the start with a message naming the variable, never a silent default.


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", True), ("TRUE", True), (" yes ", True), ("on", True),
     ("0", False), ("false", False), ("No", False), ("off", False), ("", False)],
)  # fmt: skip
def test_a_boolean_takes_the_usual_spellings(
    monkeypatch: pytest.MonkeyPatch, raw: str, value: bool
) -> None:
    monkeypatch.setenv("PIXTIER_X", raw)

    assert env_bool("PIXTIER_X", not value) is value


def test_an_unset_variable_takes_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIXTIER_X", raising=False)
    monkeypatch.delenv("PIXTIER_X_FILE", raising=False)

    assert not env_set("PIXTIER_X")
    assert env_bool("PIXTIER_X", True) is True
    assert env_int("PIXTIER_X", 7) == 7
    assert env_list("PIXTIER_X", ["a"]) == ["a"]
    assert env_choice("PIXTIER_X", "local", ("local", "s3")) == "local"


@pytest.mark.parametrize(
    ("read", "raw", "message"),
    [
        (lambda: env_bool("PIXTIER_X", False), "maybe",
         "PIXTIER_X must be a boolean (1/0, true/false), got 'maybe'"),
        (lambda: env_int("PIXTIER_X", 1), "ten", "PIXTIER_X must be an integer, got 'ten'"),
        (lambda: env_int("PIXTIER_X", 1), "1.5", "PIXTIER_X must be an integer, got '1.5'"),
        (lambda: env_int("PIXTIER_X", 5, minimum=1), "0", "PIXTIER_X must be at least 1, got 0"),
        (lambda: env_int("PIXTIER_X", 5), "-3", "PIXTIER_X must be at least 0, got -3"),
        (lambda: env_choice("PIXTIER_X", "local", ("local", "s3")), "S3",
         "PIXTIER_X must be one of local, s3, got 'S3'"),
        (lambda: env_required("PIXTIER_X", because="with STORAGE_BACKEND=s3"), "  ",
         "PIXTIER_X is required with STORAGE_BACKEND=s3"),
    ],
    ids=["boolean", "integer", "fraction", "under-minimum", "negative", "choice", "blank"],
)  # fmt: skip
def test_a_malformed_value_stops_the_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, read: Callable[[], object], raw: str, message: str
) -> None:
    monkeypatch.setenv("PIXTIER_X", raw)

    with pytest.raises(ImproperlyConfigured) as refused:
        read()

    assert str(refused.value) == message


def test_a_list_is_comma_separated_and_ignores_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXTIER_X", " pixtier.example.com, ,localhost ,")

    assert env_list("PIXTIER_X", []) == ["pixtier.example.com", "localhost"]


def test_a_required_variable_may_come_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bucket").write_text("pixtier\r\n")
    monkeypatch.delenv("PIXTIER_X", raising=False)
    monkeypatch.setenv("PIXTIER_X_FILE", str(tmp_path / "bucket"))

    assert env_set("PIXTIER_X")
    assert env_required("PIXTIER_X", because="here") == "pixtier"


@pytest.mark.parametrize("debug", ["1", "0"])
def test_a_log_line_is_printed_once(tmp_path: Path, debug: str) -> None:
    """Django's console handler (on with DEBUG) and the root's printed every django.*
    line twice under runserver."""
    log = (
        "import django, logging; django.setup(); "
        "logging.getLogger('django.request').warning('ping')"
    )
    env = {**production(tmp_path), "DEBUG": debug, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = run(["-c", log], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("ping") == 1, result.stderr
