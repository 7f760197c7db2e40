"""Pixtier settings: one module, every deployment difference read from the environment.

With no environment at all Pixtier runs "embedded": SQLite and media under ``var/``,
thumbnails made in-process, DEBUG on and a SECRET_KEY generated once into ``var/``.
Setting ``DATABASE_URL`` marks a real deployment: DEBUG then defaults to off and
``SECRET_KEY`` must be given. Any variable may come from a file instead (``NAME_FILE``,
for Docker secrets).

Importing this module reads and never writes: the folders and the key file of the embedded
mode are made by ``config.embedded.prepare()``, which ``manage.py`` and the WSGI entry point
call, so a deployment runs on a read-only filesystem.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_rate,
    env_required,
    env_set,
    env_str,
)

# Django's generic classes (ModelAdmin[Image], ModelForm[Tier]) subscriptable at run time,
# as mypy --strict wants them written.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PIXTIER_VAR_DIR", str(BASE_DIR / "var")))

EMBEDDED = not env_set("DATABASE_URL")
DEBUG = env_bool("DEBUG", EMBEDDED)

# Where the embedded mode keeps the key it generated, so sessions and links survive
# restarts; None when the key is given. Until config.embedded.prepare() has written the
# file, a process signs with the key it made up here.
PIXTIER_SECRET_KEY_FILE: Path | None = None


def _secret_key() -> str:
    global PIXTIER_SECRET_KEY_FILE
    key = env_str("SECRET_KEY", "")
    if key:
        # Django's own bar (check --deploy, security.W009), enforced where it matters: a
        # guessable key forges sessions, JWTs and expiring links.
        if not DEBUG and (len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-")):
            raise ImproperlyConfigured(
                "SECRET_KEY is too weak for DEBUG off: give at least 50 random characters, "
                "e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
            )
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off")
    PIXTIER_SECRET_KEY_FILE = VAR_DIR / "secret_key"
    try:
        return PIXTIER_SECRET_KEY_FILE.read_text().strip()
    except FileNotFoundError:
        return secrets.token_urlsafe(50)


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Behind a TLS-terminating proxy (nginx in deploy/) that sets X-Forwarded-Proto and
# X-Forwarded-Host, absolute URLs in responses must say https and the public host.
if env_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
# HTTPS=1: clients reach Pixtier over https only (TLS at the proxy, with BEHIND_PROXY=1, or
# at gunicorn). Plain http is redirected, cookies travel over https only, and HSTS tells
# browsers to insist on https (for HSTS_SECONDS; preloading is an explicit opt-in).
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
# Health probes and the metrics scraper call the containers over plain http from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", False)
# What `manage.py check --deploy` may leave unsaid, and why:
SILENCED_SYSTEM_CHECKS = [
    # security.W021 (SECURE_HSTS_PRELOAD off): preloading puts the domain into browsers'
    # built-in lists for months and cannot be taken back quickly; the operator opts in
    # with HSTS_PRELOAD=1 once every subdomain serves https.
    "security.W021",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "axes",
    "pixtier.accounts",
    "pixtier.images",
    "pixtier.links",
]

MIDDLEWARE = [
    # First: a malformed or too large Content-Length is refused before anything reads it.
    "pixtier.common.limits.RequestSizeMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # times everything after
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Answers GET/HEAD of image bytes here: the rest does nothing for them (measured).
    "pixtier.common.downloads.DownloadMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pixtier.common.errors.ServiceUnavailableMiddleware",  # outages: 503 JSON, not 500
    # Turns a sign-in that django-axes locked out into its 429 (pixtier.accounts.lockout).
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",  # last
]

ROOT_URLCONF = "config.urls"
# A POST to a path without its slash must not be redirected (the body would be lost);
# the JSON 404 names the right URL instead.
APPEND_SLASH = False
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "pixtier" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Folders the embedded mode keeps its state in (the database's, the test database's, static
# files'), made by config.embedded.prepare().
PIXTIER_LOCAL_DIRS: list[Path] = []

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # Off by default: the check is a "SELECT 1" before each request's first query (half
        # of a download's database round trips, measured), to spare the one request per
        # process that would otherwise find a connection dead after a database restart
        # (it answers 503 with Retry-After, and the connection is replaced).
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail a request (and /readyz) within seconds when the server is unreachable.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    PIXTIER_LOCAL_DIRS += [Path(DATABASES["default"]["NAME"]).parent, VAR_DIR]
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers proceed while a thumbnail claim is written; IMMEDIATE makes
        # writers queue on the busy timeout instead of failing with "database is locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file (not shared-cache memory) so threads in tests lock like real processes do;
    # one per test run, so parallel runs do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out sign-in before any password is checked, on
# every form (admin, browsable API) and the token endpoint alike.
AUTHENTICATION_BACKENDS = [
    "pixtier.accounts.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Brute-force protection (pixtier.accounts.lockout): LOGIN_FAILURE_LIMIT failed sign-ins
# for one username, or from one client address, lock it out for LOGIN_COOLOFF_MINUTES
# (counted again from each attempt made while locked). Attempts and lockouts are
# recorded in the database and listed in the admin ("Access attempts", "Access
# failures"); `manage.py axes_reset_username NAME` lifts a lockout early.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "pixtier.accounts.lockout.client_address"
AXES_LOCKOUT_CALLABLE = "pixtier.accounts.lockout.lockout_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_HTTP_RESPONSE_CODE = 429
# Not a banner on every manage.py command and every process start.
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
PIXTIER_LOCAL_DIRS.append(STATIC_ROOT)  # whitenoise serves collectstatic's output from it

# Media is private: MEDIA_ROOT is never mounted under a URL. Bytes leave only through
# pixtier.delivery after an owner or link check.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/_private-media-not-served/"
STORAGE_BACKEND = env_choice("STORAGE_BACKEND", "local", ("local", "s3"))
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# How bytes leave once Django has authorised them: "django" streams them; "x-accel"
# hands a local file to nginx (X-Accel-Redirect to an internal location); "redirect"
# answers 302 to a presigned object-store URL that lives PRESIGN_SECONDS (at most 60,
# and never past an expiring link's end).
PIXTIER_DELIVERY = env_choice("DELIVERY_MODE", "django", ("django", "x-accel", "redirect"))
PIXTIER_X_ACCEL_PREFIX = env_str("X_ACCEL_PREFIX", "/_protected/")
PIXTIER_PRESIGN_SECONDS = env_int("PRESIGN_SECONDS", 60, minimum=1)
if PIXTIER_PRESIGN_SECONDS > 60:
    raise ImproperlyConfigured(f"PRESIGN_SECONDS must be at most 60, got {PIXTIER_PRESIGN_SECONDS}")
if PIXTIER_DELIVERY == "x-accel" and STORAGE_BACKEND != "local":
    raise ImproperlyConfigured("DELIVERY_MODE=x-accel needs STORAGE_BACKEND=local")
if PIXTIER_DELIVERY == "redirect" and STORAGE_BACKEND != "s3":
    raise ImproperlyConfigured("DELIVERY_MODE=redirect needs STORAGE_BACKEND=s3")

if STORAGE_BACKEND == "s3":
    from botocore.config import Config as BotocoreConfig

    _because = "when STORAGE_BACKEND=s3"
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_required("S3_BUCKET", because=_because),
            "access_key": env_required("S3_ACCESS_KEY_ID", because=_because),
            "secret_key": env_required("S3_SECRET_ACCESS_KEY", because=_because),
            "endpoint_url": env_str("S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("S3_REGION", "us-east-1"),
            "location": env_str("S3_LOCATION", ""),  # key prefix inside the bucket
            # Replaces django-storages' own botocore Config (addressing style and signature
            # included). Bounded waits: an unreachable server fails a request (and /readyz)
            # within seconds instead of botocore's default minutes of retries.
            "client_config": BotocoreConfig(
                s3={
                    "addressing_style": env_choice(
                        "S3_ADDRESSING_STYLE", "path", ("path", "virtual")
                    )
                },
                signature_version="s3v4",
                connect_timeout=3,
                read_timeout=20,
                retries={"mode": "standard", "max_attempts": 3},
            ),
            # Private objects; URLs are presigned and short-lived.
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": PIXTIER_PRESIGN_SECONDS,
            # Keys are unique (UUIDs) and rows say what is ready: no HEAD before each write.
            "file_overwrite": True,
        },
    }

# Redis, when given, is the cache (tier capabilities, shared by every process), the
# Celery broker and result backend. Without it: local memory and in-process work.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Seconds: a Redis that stopped answering fails fast instead of hanging requests.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
# kombu waits forever by default: a Redis that stops answering without closing the
# connection would hang every upload's queueing until gunicorn kills the worker. The
# read timeout stays above the workers' 1 s BRPOP poll.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 3}
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "purge-sign-in-records": {
        "task": "pixtier.accounts.tasks.purge_sign_in_records",
        "schedule": env_int("PURGE_SIGN_INS_EVERY_SECONDS", 24 * 3600, minimum=1),
    },
    "purge-expired-links": {
        "task": "pixtier.links.tasks.purge_expired_links",
        "schedule": env_int("PURGE_LINKS_EVERY_SECONDS", 600, minimum=1),
    },
    "flush-link-downloads": {
        "task": "pixtier.links.tasks.flush_link_downloads",
        "schedule": env_int("LINK_DOWNLOADS_FLUSH_SECONDS", 10, minimum=1),
    },
    "prune-thumbnails": {
        "task": "pixtier.images.tasks.prune_thumbnails",
        "schedule": env_int("PRUNE_THUMBNAILS_EVERY_SECONDS", 3600, minimum=1),
    },
}

REST_FRAMEWORK = {
    # JWT first, so an unauthenticated request gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "pixtier.accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "pixtier.common.schema.AutoSchema",
    "EXCEPTION_HANDLER": "pixtier.common.errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "pixtier.common.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # How many proxies in front append to X-Forwarded-For: the client address for the
    # per-IP rate limits is the one the outermost of ours saw. 0 reads REMOTE_ADDR alone;
    # DRF's default (None) would trust the whole header, which any client can forge.
    "NUM_PROXIES": env_int("NUM_PROXIES", 1 if env_bool("BEHIND_PROXY", False) else 0),
}

# Rate limits (pixtier.common.throttles): "<n>/<s|min|hour|day>", or "off". Uploads, link
# creation and owner downloads count per user; public link downloads and token requests
# per client IP. Counted in the default cache, so shared by every process with Redis.
PIXTIER_THROTTLE_RATES = {
    "uploads": env_rate("THROTTLE_UPLOADS", "30/min"),
    "link_creation": env_rate("THROTTLE_LINK_CREATION", "60/min"),
    "downloads": env_rate("THROTTLE_DOWNLOADS", "1200/min"),
    "link_downloads": env_rate("THROTTLE_LINK_DOWNLOADS", "600/min"),
    "token": env_rate("THROTTLE_TOKEN", "10/min"),
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 1, minimum=1)),
    "UPDATE_LAST_LOGIN": False,
    # Each refresh answers a new refresh token and blacklists the old one; a second use of
    # one revokes the user's others (pixtier.accounts.tokens).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Pixtier API",
    "DESCRIPTION": "Upload PNG and JPEG images and get thumbnail, original and expiring links "
    "according to your account tier.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs are public and the same for everyone: they read no
    # credentials, so a stale bearer token cannot turn them into a 401.
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Swagger UI's files come from the drf-spectacular-sidecar package, not a CDN, so the
    # docs work offline like the rest of the embedded mode.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

LOGIN_URL = "rest_framework:login"
LOGIN_REDIRECT_URL = "/api/v1/"

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {
        "handlers": ["console"],
        "level": LOG_LEVEL,
    },
    # libvips narrates every operation at INFO through GLib; keep only its warnings.
    "loggers": {
        "pyvips": {"level": "WARNING"},
        # Django's own console handler would print every django.* line a second time
        # through the root's; the root's alone prints them.
        "django": {"handlers": [], "level": LOG_LEVEL},
    },
}

# --- Pixtier ---------------------------------------------------------------------------
# Upload limits. Pixels and dimensions are checked from the header, before decoding.
PIXTIER_MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 20 * 1024 * 1024, minimum=1)
PIXTIER_MAX_PIXELS = env_int("MAX_IMAGE_PIXELS", 50_000_000, minimum=1)
PIXTIER_MAX_DIMENSION = env_int("MAX_IMAGE_DIMENSION", 20_000, minimum=1)
PIXTIER_MAX_TITLE_LENGTH = 200
# Budgets of one decode of client data (SPEC §9; README "Budgets for hostile input").
# Each is checked from the file's structure before decoding, except the time budget,
# which libvips enforces during the decode. Over any: 413 naming the limit.
PIXTIER_MAX_JPEG_SCANS = env_int("MAX_JPEG_SCANS", 100, minimum=1)
PIXTIER_MAX_JPEG_SCAN_BLOCKS = env_int("MAX_JPEG_SCAN_BLOCKS", 50_000_000, minimum=1)
PIXTIER_MAX_DECODE_BYTES = env_int("MAX_DECODE_BYTES", 256_000_000, minimum=1)
PIXTIER_MAX_METADATA_BYTES = env_int("MAX_METADATA_BYTES", 4_000_000, minimum=1)
PIXTIER_MAX_PNG_CHUNKS = env_int("MAX_PNG_CHUNKS", 50_000, minimum=1)
PIXTIER_MAX_DECODE_SECONDS = env_int("MAX_DECODE_SECONDS", 10, minimum=1)
# Decodes at once per process; more wait their turn (memory: this x MAX_DECODE_BYTES).
PIXTIER_CONCURRENT_DECODES = env_int("CONCURRENT_DECODES", 2, minimum=1)
# Let Django spool an allowed upload to memory rather than a temp file.
FILE_UPLOAD_MAX_MEMORY_SIZE = PIXTIER_MAX_UPLOAD_BYTES + 1
# Every other request body (JSON, forms, sign-ins): a larger Content-Length is 413 before
# the body is read (pixtier.common.limits); Django's own check says the same for what it
# reads into memory.
PIXTIER_MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = PIXTIER_MAX_REQUEST_BYTES
DATA_UPLOAD_MAX_NUMBER_FILES = 5

# Expiring links: lifetime bounds in seconds, inclusive.
PIXTIER_LINK_MIN_SECONDS = 300
PIXTIER_LINK_MAX_SECONDS = 30_000

# Thumbnails: quality, and how long a generation claim is trusted before another
# process may take it over (a crashed generator must not block an image forever).
PIXTIER_JPEG_QUALITY = env_int("THUMBNAIL_JPEG_QUALITY", 85, minimum=1)
PIXTIER_THUMBNAIL_CLAIM_SECONDS = env_int("THUMBNAIL_CLAIM_SECONDS", 60, minimum=1)
PIXTIER_THUMBNAIL_WAIT_SECONDS = env_int("THUMBNAIL_WAIT_SECONDS", 30, minimum=1)
# Thumbnails in the original's format are made with the upload; WebP and AVIF on the first
# request that negotiates them, or with the upload too when named here ("webp,avif").
PIXTIER_EAGER_FORMATS = tuple(env_list("THUMBNAIL_EAGER_FORMATS", []))
if not set(PIXTIER_EAGER_FORMATS) <= {"webp", "avif"}:
    raise ImproperlyConfigured(
        f"THUMBNAIL_EAGER_FORMATS may name webp and avif, got {','.join(PIXTIER_EAGER_FORMATS)!r}"
    )
# "celery": queued for the workers (the default with REDIS_URL); "thread": an in-process
# thread (the default without); "sync": before the request returns (tests); "off": only
# on demand.
PIXTIER_BACKGROUND = env_choice(
    "BACKGROUND_MODE", "celery" if REDIS_URL else "thread", ("celery", "thread", "sync", "off")
)
# Seconds a tier's capabilities are cached. Only a cache shared by every process (Redis)
# may hold them, so a tier edit is seen at once everywhere (signals invalidate it);
# without Redis they are read per request (one query).
PIXTIER_TIER_CACHE_SECONDS = env_int("TIER_CACHE_SECONDS", 300 if REDIS_URL else 0)
# The same for the rows every download reads: an expiring link with its image and owner
# (never past the link's expiry), a READY thumbnail. Signals forget them on any change.
PIXTIER_DOWNLOAD_CACHE_SECONDS = env_int("DOWNLOAD_CACHE_SECONDS", 300 if REDIS_URL else 0)
PIXTIER_DEFAULT_TIER = env_str("DEFAULT_TIER", "Basic")
# Without Redis, downloads of unlimited links are counted in each process and written to
# the database at most this often (and at exit): one query per download, not two.
PIXTIER_LINK_DOWNLOADS_LOCAL_SECONDS = env_int("LINK_DOWNLOADS_LOCAL_SECONDS", 1)
# /readyz reuses its answer this long (0: checks on every probe), so probes cannot be
# turned into a flood of connections to the database, the storage and Redis.
PIXTIER_READYZ_CACHE_SECONDS = env_int("READYZ_CACHE_SECONDS", 1)
# /metrics is for the holder of this token (Authorization: Bearer ...) when it is set;
# unset, anyone who reaches the app may read it (nginx in deploy/ hides it).
PIXTIER_METRICS_TOKEN = env_str("METRICS_TOKEN", "")
