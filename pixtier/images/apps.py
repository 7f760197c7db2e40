from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "pixtier.images"
    label = "images"

    def ready(self) -> None:
        from django.conf import settings

        from pixtier.images import processing, signals  # noqa: F401

        processing.configure(concurrent_decodes=settings.PIXTIER_CONCURRENT_DECODES)
