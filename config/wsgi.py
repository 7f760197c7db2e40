"""The WSGI entry point (gunicorn config.wsgi:application)."""

import os

from django.core.wsgi import get_wsgi_application

from config.embedded import prepare

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
prepare()
application = get_wsgi_application()
