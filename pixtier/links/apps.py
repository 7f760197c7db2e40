from django.apps import AppConfig


class LinksConfig(AppConfig):
    name = "pixtier.links"
    label = "links"
