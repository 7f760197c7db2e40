"""manage.py seed_demo: demo users per built-in tier plus a superuser, safe to re-run."""

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import Client

from pixtier.accounts.models import Tier, User
from pixtier.images.models import Image

DEMO = {"basic": "Basic", "premium": "Premium", "enterprise": "Enterprise"}
PASSWORD = "demo passphrase 2024"


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def printed_passwords(output: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*(\w+)\s+password (\S+)", output, re.MULTILINE))


@pytest.mark.django_db
def test_it_creates_a_user_per_built_in_tier_and_a_superuser() -> None:
    seed("--password", PASSWORD)
    for username, tier_name in DEMO.items():
        user = User.objects.get(username=username)
        assert user.tier.name == tier_name
        assert not user.is_staff
        assert not user.is_superuser
    admin = User.objects.get(username="admin")
    assert admin.is_staff
    assert admin.is_superuser


@pytest.mark.django_db
def test_the_given_password_lets_every_demo_user_log_in() -> None:
    seed("--password", PASSWORD)
    for username in [*DEMO, "admin"]:
        assert Client().login(username=username, password=PASSWORD), username


@pytest.mark.django_db
def test_without_a_password_it_prints_generated_ones_that_work() -> None:
    passwords = printed_passwords(seed())
    assert set(passwords) == {*DEMO, "admin"}
    assert len(set(passwords.values())) == 4
    for username, password in passwords.items():
        assert len(password) >= 12
        assert Client().login(username=username, password=password), username
    assert Client().get("/admin/").status_code == 302
    admin = Client()
    admin.login(username="admin", password=passwords["admin"])
    assert admin.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_demo_users_get_a_sample_image(media_root: Path) -> None:
    seed("--password", PASSWORD)
    for username in DEMO:
        image = Image.objects.get(owner__username=username)
        assert image.content_type == "image/jpeg"
        assert (image.width, image.height) == (1600, 1200)
        assert default_storage.exists(image.original_key)
    assert not Image.objects.filter(owner__username="admin").exists()


@pytest.mark.django_db
def test_re_running_keeps_users_images_and_passwords() -> None:
    first = printed_passwords(seed())
    output = seed()
    assert printed_passwords(output) == {}  # shown once only
    assert "password unchanged" in output
    assert User.objects.filter(username__in=[*DEMO, "admin"]).count() == 4
    assert Image.objects.count() == 3
    for username, password in first.items():
        assert Client().login(username=username, password=password), username


@pytest.mark.django_db
def test_re_running_with_a_password_resets_it() -> None:
    first = printed_passwords(seed())
    output = seed("--password", PASSWORD)
    assert "password reset" in output
    assert User.objects.filter(username__in=[*DEMO, "admin"]).count() == 4
    assert Image.objects.count() == 3
    for username, old in first.items():
        assert Client().login(username=username, password=PASSWORD), username
        assert not Client().login(username=username, password=old), username


@pytest.mark.django_db
def test_re_running_keeps_a_tier_an_admin_assigned_since() -> None:
    seed("--password", PASSWORD)
    User.objects.filter(username="basic").update(tier=Tier.objects.get(name="Enterprise"))
    seed("--password", PASSWORD)
    assert User.objects.get(username="basic").tier.name == "Enterprise"


@pytest.mark.django_db
def test_it_says_so_when_a_built_in_tier_is_missing() -> None:
    Tier.objects.filter(name="Premium").delete()
    with pytest.raises(CommandError, match="Premium"):
        seed("--password", PASSWORD)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("change-me", "placeholder"),
        ("12345678", "too common"),
        ("short", "too short"),
        ("premium1", "too similar"),
    ],
)
def test_with_debug_off_it_refuses_a_password_the_validators_refuse(
    settings: Any, password: str, reason: str
) -> None:
    settings.DEBUG = False

    with pytest.raises(CommandError, match=reason):
        seed("--password", password)

    assert not User.objects.exists()


@pytest.mark.django_db
def test_with_debug_off_a_strong_password_is_taken(settings: Any) -> None:
    settings.DEBUG = False

    seed("--password", PASSWORD)

    assert User.objects.get(username="admin").check_password(PASSWORD)


@pytest.mark.django_db
def test_with_debug_on_a_weak_password_is_the_developers_choice(settings: Any) -> None:
    settings.DEBUG = True

    seed("--password", "change-me")

    assert User.objects.get(username="basic").check_password("change-me")
