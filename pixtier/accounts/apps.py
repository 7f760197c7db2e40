from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "pixtier.accounts"
    label = "accounts"
