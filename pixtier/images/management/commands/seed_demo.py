"""Demo users for the built-in tiers plus a superuser, each with a sample image."""

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from pixtier.accounts.models import Tier, User
from pixtier.images import processing
from pixtier.images.services import image_upload

DEMO_USERS = [("basic", "Basic"), ("premium", "Premium"), ("enterprise", "Enterprise")]
# .env.example's placeholder: a deployment that still has it was never configured.
PLACEHOLDER = "change-me"


class Command(BaseCommand):
    help = (
        "Create demo users basic, premium, enterprise and superuser admin (idempotent). "
        "Passwords come from --password, or are generated and printed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            help="Password for every demo user; also resets the password of existing ones.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"]
        rows = [(name, tier, False) for name, tier in DEMO_USERS] + [("admin", "Basic", True)]
        if password and not settings.DEBUG:
            # A deployment: these accounts (a superuser among them) face the network.
            self._refuse_weak(password, [username for username, _, _ in rows])
        if not password:
            self.stdout.write("Demo users (new passwords are shown this once only):")
        for username, tier_name, is_admin in rows:
            tier = Tier.objects.filter(name=tier_name).first()
            if tier is None:
                raise CommandError(f"Tier {tier_name!r} is missing; run migrate first.")
            self._seed(username, tier, is_admin, password)
        self.stdout.write("Sign in at /api/v1/ (the API) and, as admin, at /admin/.")

    def _refuse_weak(self, password: str, usernames: list[str]) -> None:
        """The password validators' verdict for each demo user (AUTH_PASSWORD_VALIDATORS),
        and never the example's placeholder."""
        if password == PLACEHOLDER:
            raise CommandError(
                f"--password is {PLACEHOLDER!r}, the placeholder of .env.example: choose a "
                "real password (DEMO_PASSWORD in .env)."
            )
        for username in usernames:
            probe = User(username=username, email=f"{username}@example.com")
            try:
                validate_password(password, user=probe)
            except ValidationError as exc:
                raise CommandError(
                    f"--password is refused for {username}: {' '.join(exc.messages)} "
                    "(DEBUG is off; choose a stronger one)."
                ) from exc

    @transaction.atomic
    def _seed(self, username: str, tier: Tier, is_admin: bool, password: str | None) -> None:
        user = User.objects.filter(username=username).first()
        if user is not None:
            if password:
                user.set_password(password)
                user.save(update_fields=["password"])
                self.stdout.write(f"  {username:<11} password reset (tier {user.tier})")
            else:
                self.stdout.write(
                    f"  {username:<11} exists, password unchanged "
                    "(reset with: manage.py seed_demo --password ...)"
                )
            return
        chosen = password or secrets.token_urlsafe(9)
        user = User.objects.create_user(
            username=username,
            password=chosen,
            email=f"{username}@example.com",
            tier=tier,
            is_staff=is_admin,
            is_superuser=is_admin,
        )
        if not is_admin:
            sample = processing.demo_image(1600, 1200)
            image_upload(
                owner=user,
                file=SimpleUploadedFile("demo.jpg", sample, content_type="image/jpeg"),
                title=f"Demo image for {username}",
            )
        self.stdout.write(f"  {username:<11} password {chosen}   (tier {tier.name})")
