from django.apps import AppConfig


class LinksConfig(AppConfig):
    name = "pixtier.links"
    label = "links"

    def ready(self) -> None:
        from pixtier.links import signals  # noqa: F401
