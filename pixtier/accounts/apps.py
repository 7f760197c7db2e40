from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "pixtier.accounts"
    label = "accounts"

    def ready(self) -> None:
        from pixtier.accounts import signals  # noqa: F401
