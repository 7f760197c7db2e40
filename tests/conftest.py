"""Shared fixtures: a user per tier, a stranger, API clients, and image bytes.

The suite runs on either storage backend (STORAGE_BACKEND): each test gets an empty
storage of its own, and looks at stored files only through Django's storage API.
"""

import copy
import datetime as dt
import os
import posixpath
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.storage import Storage, default_storage, storages
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import override_settings
from pytest_django.fixtures import validate_django_db
from pytest_django.plugin import blocking_manager_key
from rest_framework.test import APIClient

import pixtier.common.cache
import pixtier.images.tasks
import pixtier.links.counting
from config.embedded import prepare
from pixtier.accounts.models import ThumbnailSize, Tier, User
from tests.authorization import World, build_world, custom_tier_create
from tests.helpers import ORIGINAL, S3, jpeg_bytes, upload


def pytest_configure() -> None:
    # What manage.py does first: the folders the embedded mode keeps (the SQLite test
    # database's among them).
    prepare()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A module's shared world (``shared_world``) stays open until pytest moves on to
    another world or module, so a test of the same module without one would run inside
    it and see its rows: a module either uses shared worlds in every database test or
    not at all."""
    fixtures = {item: getattr(item, "fixturenames", ()) for item in items}
    with_world = {item.path for item in items if "shared_world" in fixtures[item]}
    beside = [
        item.nodeid
        for item in items
        if item.path in with_world
        and "shared_world" not in fixtures[item]
        and ("db" in fixtures[item] or item.get_closest_marker("django_db"))
    ]
    if beside:
        raise pytest.UsageError(
            "These tests use the database beside tests with a shared world, whose rows "
            f"they would see; move them to another module: {beside}"
        )


def _real_utcnow(remove_tzinfo: bool = True) -> dt.datetime:
    hatch = time_machine.escape_hatch
    now = (hatch.datetime.datetime if hatch.is_travelling() else dt.datetime).now(dt.UTC)
    return now.replace(tzinfo=None) if remove_tzinfo else now


@pytest.fixture(autouse=True, scope="session")
def _object_store_requests_carry_the_real_time() -> Iterator[None]:
    """Tests move the clock (time_machine); the S3 server's clock stays put and refuses
    requests signed more than 15 minutes off it. Sign them with the real time."""
    if not S3:
        yield
        return
    import botocore.auth

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.auth, "get_current_datetime", _real_utcnow)
        yield


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Every test gets its own empty MEDIA_ROOT (which stays empty with the S3 backend);
    background work is off unless asked; passwords hash fast (the real hasher is slow
    by design and tests make many users); the cache starts empty."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    settings.PIXTIER_BACKGROUND = "off"
    settings.PASSWORD_HASHERS = [MD5_HASHER]
    cache.clear()
    return root


@pytest.fixture(autouse=True)
def rate_limits(settings: Any) -> dict[str, str | None]:
    """Rate limits stay on, counted as in production, but too high to trip; a test of
    them sets its own (``settings.PIXTIER_THROTTLE_RATES``). The cache, where they count,
    is emptied per test (``media_root``)."""
    settings.PIXTIER_THROTTLE_RATES = dict.fromkeys(settings.PIXTIER_THROTTLE_RATES, "100000/min")
    rates: dict[str, str | None] = settings.PIXTIER_THROTTLE_RATES
    return rates


@pytest.fixture(autouse=True)
def _no_link_downloads_pending_in_this_process() -> Iterator[None]:
    """Downloads a test counted in this process without Redis (pixtier.links.counting)
    are not the next test's, nor written at exit into a test database already gone."""
    pixtier.links.counting.local_take()
    yield
    pixtier.links.counting.local_take()


@pytest.fixture(autouse=True)
def _services_answer_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a failure this process skips the cache and the broker for a few seconds
    (pixtier.common.cache, pixtier.images.tasks); a test that took one down does not leave
    the next without it."""
    pixtier.common.cache.breaker.reset()
    pixtier.images.tasks.broker.reset()


@pytest.fixture(autouse=True)
def storage(settings: Any, media_root: Path) -> Iterator[Storage]:
    """Every test gets its own empty storage: the temp MEDIA_ROOT, or with S3 a key prefix
    of its own in the bucket (emptied afterwards). Django swaps default_storage when
    STORAGES changes. Yields the backend itself (default_storage is a lazy proxy)."""
    if not S3:
        yield storages["default"]
        return
    default = settings.STORAGES["default"]
    options = default["OPTIONS"]
    location = posixpath.join(options.get("location", ""), "tests", uuid.uuid4().hex)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**default, "OPTIONS": {**options, "location": location}},
    }
    yield storages["default"]
    default_storage.bucket.objects.filter(Prefix=f"{location}/").delete()  # type: ignore[attr-defined]


MD5_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


def _transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is not None and validate_django_db(marker)[0]:  # (transaction, ...)
        return True
    return bool({"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())))


MIGRATED = pytest.StashKey[dict[str, str]]()


@pytest.fixture(scope="session")
def django_db_setup(
    django_db_setup: None, django_db_blocker: Any, request: pytest.FixtureRequest
) -> None:
    """The test databases as the migrations left them (the built-in tiers, the content
    types), kept to be put back after each transactional test."""
    with django_db_blocker.unblock():
        request.config.stash[MIGRATED] = {
            alias: connections[alias].creation.serialize_db_to_string() for alias in connections
        }


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A transactional test (threads, the live server) empties every table when it ends,
    taking what the migrations made with it. Put that back at once, so that whatever runs
    next in this process, in any order or xdist distribution, finds it (after the last
    test there is no database left to fill). Django's own ``serialized_rollback`` puts
    it back only at the start of the next test that asks for it, and under Playwright
    (the browser tests) it found nothing to put back."""
    result = yield
    if _transactional(item) and nextitem is not None and MIGRATED in item.config.stash:
        with item.config.stash[blocking_manager_key].unblock():
            for alias, contents in item.config.stash[MIGRATED].items():
                _put_back(connections[alias], contents)
    return result


def _put_back(connection: BaseDatabaseWrapper, contents: str) -> None:
    # Emptied again without the post-migrate signal, whose content types would take
    # other keys than the ones the rows put back refer to.
    call_command("flush", database=connection.alias, interactive=False, inhibit_post_migrate=True)
    connection.creation.deserialize_db_from_string(contents)
    # As loaddata does: the next row a sequence numbers comes after the rows put back.
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), django_apps.get_models()):
            cursor.execute(sql)


@pytest.fixture
def tier(db: None) -> Callable[[str], Tier]:
    return lambda name: Tier.objects.get(name=name)


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    counter = iter(range(1, 10_000))

    def make(tier_name: str = "Basic", **extra: Any) -> User:
        n = next(counter)
        return User.objects.create_user(
            username=extra.pop("username", f"user{n}"),
            password=extra.pop("password", "correct horse battery staple"),
            tier=Tier.objects.get(name=tier_name),
            **extra,
        )

    return make


@pytest.fixture
def basic_user(make_user: Callable[..., User]) -> User:
    return make_user("Basic", username="basic")


@pytest.fixture
def premium_user(make_user: Callable[..., User]) -> User:
    return make_user("Premium", username="premium")


@pytest.fixture
def enterprise_user(make_user: Callable[..., User]) -> User:
    return make_user("Enterprise", username="enterprise")


@pytest.fixture
def stranger(make_user: Callable[..., User]) -> User:
    """Another Enterprise user: may do everything, but not with other people's images."""
    return make_user("Enterprise", username="stranger")


@pytest.fixture
def custom_tier(db: None) -> Tier:
    tier = Tier.objects.create(name="Thumbs only", original_link=False, expiring_links=True)
    ThumbnailSize.objects.bulk_create(ThumbnailSize(tier=tier, height=h) for h in (100, 300))
    return tier


@pytest.fixture
def client_for() -> Callable[[User | None], APIClient]:
    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def uploaded(client_for: Callable[[User | None], APIClient]) -> Callable[..., dict[str, Any]]:
    """Upload an image as ``user`` through the API; return its representation."""

    def make(user: User, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        response = upload(client_for(user), data or jpeg_bytes(), **kwargs)
        assert response.status_code == 201, response.content
        representation: dict[str, Any] = response.json()
        return representation

    return make


@pytest.fixture
def owner(enterprise_user: User, client_for: Callable[[User | None], APIClient]) -> APIClient:
    """The enterprise user's API client: everything is allowed, on their own images."""
    return client_for(enterprise_user)


@pytest.fixture
def anonymous(client_for: Callable[[User | None], APIClient]) -> APIClient:
    """A client with no credentials: anyone on the internet."""
    return client_for(None)


@pytest.fixture
def image(enterprise_user: User, uploaded: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The enterprise user's upload of ``ORIGINAL``: its representation."""
    return uploaded(enterprise_user, ORIGINAL)


# --- the authorization worlds (tests/authorization.py), built once per (tier, state) -----


@pytest.fixture(scope="module")
def world_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Where a module's shared worlds keep their files: a world outlives a test, so it
    cannot use the test's own storage."""
    default = django_settings.STORAGES["default"]
    stores = django_settings.STORAGES
    if S3:
        options = default["OPTIONS"]
        location = posixpath.join(options.get("location", ""), "tests", uuid.uuid4().hex)
        stores = {**stores, "default": {**default, "OPTIONS": {**options, "location": location}}}
    yield {"MEDIA_ROOT": str(tmp_path_factory.mktemp("worlds")), "STORAGES": stores}
    if S3:
        with override_settings(STORAGES=stores):
            default_storage.bucket.objects.filter(Prefix=f"{location}/").delete()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def shared_world(
    request: pytest.FixtureRequest,
    django_db_setup: None,
    django_db_blocker: Any,
    world_files: dict[str, Any],
) -> Iterator[World]:
    """The world of one (tier, state), parametrized indirectly by the tests that use it.

    Built in a transaction that is rolled back when pytest moves on to another world;
    each test runs in a savepoint inside it (pytest-django's), so what one test changes
    the next does not see.
    """
    tier, state = request.param
    fast = {"PIXTIER_BACKGROUND": "off", "PASSWORD_HASHERS": [MD5_HASHER]}
    with (
        override_settings(**world_files, **fast),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        cache.clear()
        custom_tier_create()
        yield build_world(tier, state)
        transaction.set_rollback(True)


@pytest.fixture
def world(shared_world: World, settings: Any, world_files: dict[str, Any], db: None) -> World:
    """This test's copy of the shared world, its files where the world stored them."""
    settings.MEDIA_ROOT = world_files["MEDIA_ROOT"]
    settings.STORAGES = world_files["STORAGES"]
    return copy.deepcopy(shared_world)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis for tests of the shared cache: the services pass's (TEST_REDIS_URL or
    REDIS_URL), else a throwaway redis-server of the test run's own."""
    url = os.environ.get("TEST_REDIS_URL") or django_settings.REDIS_URL
    if url:
        yield url
        return
    if shutil.which("redis-server") is None:
        pytest.skip("no Redis: set TEST_REDIS_URL or install redis-server")
    from tests.integration.procs import free_port, process

    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    args += ["--appendonly", "no", "--dir", str(workdir)]
    with process(args, env={}, log=workdir / "redis.log"):
        deadline = time.monotonic() + 10
        while b"Ready to accept connections" not in (workdir / "redis.log").read_bytes():
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def take_cache_down(settings: Any) -> Callable[[], None]:
    """Point the cache at a Redis nobody answers at (the settings' socket timeouts)."""

    def down() -> None:
        from tests.integration.procs import free_port

        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
            }
        }

    return down


@pytest.fixture
def redis_cache(settings: Any, redis_url: str) -> Iterator[None]:
    """The default cache is Redis (emptied), and downloads and tiers are cached in it; as
    in a deployment with REDIS_URL, unlimited links count their downloads there too."""
    settings.REDIS_URL = redis_url
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    settings.PIXTIER_DOWNLOAD_CACHE_SECONDS = 300
    settings.PIXTIER_TIER_CACHE_SECONDS = 300
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def no_cache(settings: Any) -> None:
    """Nothing cached: every decision reads the database (and link downloads are counted
    in it, as without REDIS_URL)."""
    settings.REDIS_URL = ""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.PIXTIER_DOWNLOAD_CACHE_SECONDS = 0
    settings.PIXTIER_TIER_CACHE_SECONDS = 0
