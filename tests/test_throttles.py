"""Rate limits (pixtier.common.throttles): each throttle tested directly, as DRF tests its
own, and through the URLs it guards: 429 with Retry-After and a JSON detail, counted per
user or per client address in the default cache, with rates from the settings."""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from config.env import env_rate
from pixtier.accounts.models import User
from pixtier.common.throttles import (
    DownloadThrottle,
    LinkCreationThrottle,
    LinkDownloadThrottle,
    PixtierThrottle,
    TokenThrottle,
    UploadThrottle,
)
from pixtier.images.models import Image
from tests.helpers import jpeg_bytes, stored_files, upload

START = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def clock(time_machine: Any) -> Any:
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def rates(rate_limits: dict[str, str | None]) -> dict[str, str | None]:
    """The test's own rates: set ``rates[scope]`` (the suite's are too high to trip)."""
    return rate_limits


def request(
    method: str = "get", user: User | None = None, remote: str = "192.0.2.1", **headers: Any
) -> Request:
    django_request = getattr(APIRequestFactory(), method)("/", REMOTE_ADDR=remote, **headers)
    if user is not None:
        force_authenticate(django_request, user)
    view = APIView()
    drf_request = view.initialize_request(django_request)
    view.request = drf_request
    return drf_request


def allowed(throttle_class: type[PixtierThrottle], req: Request) -> bool:
    return throttle_class().allow_request(req, APIView())


def assert_throttled(response: Any) -> int:
    """A 429 as the API gives it; returns the seconds it says to wait."""
    assert response.status_code == 429, response.content[:300]
    assert response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert detail.startswith("Request was throttled.")
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    assert f"{wait} second" in detail
    return wait


# --- the throttles, directly ---------------------------------------------------------------


def test_a_throttle_allows_its_rate_then_says_how_long_to_wait(
    clock: Any, rates: dict[str, str | None], basic_user: User
) -> None:
    rates["uploads"] = "3/min"
    req = request("post", basic_user)

    assert [allowed(UploadThrottle, req) for _ in range(4)] == [True, True, True, False]
    throttle = UploadThrottle()
    assert not throttle.allow_request(req, APIView())
    assert throttle.wait() == 60
    clock.shift(59)
    assert not allowed(UploadThrottle, req)
    clock.shift(1)  # the first request leaves the window
    assert allowed(UploadThrottle, req)


def test_a_user_throttle_counts_each_user_on_their_own(
    rates: dict[str, str | None], basic_user: User, premium_user: User
) -> None:
    rates["downloads"] = "1/min"

    assert allowed(DownloadThrottle, request(user=basic_user))
    assert not allowed(DownloadThrottle, request(user=basic_user))
    assert allowed(DownloadThrottle, request(user=premium_user))


def test_a_user_throttle_counts_a_user_wherever_they_come_from(
    rates: dict[str, str | None], basic_user: User
) -> None:
    rates["link_creation"] = "1/min"

    assert allowed(LinkCreationThrottle, request("post", basic_user, remote="192.0.2.1"))
    assert not allowed(LinkCreationThrottle, request("post", basic_user, remote="198.51.100.7"))


@pytest.mark.parametrize("throttle", [UploadThrottle, LinkCreationThrottle])
def test_upload_and_link_throttles_count_only_creation(
    rates: dict[str, str | None], basic_user: User, throttle: type[PixtierThrottle]
) -> None:
    rates[str(throttle.scope)] = "1/min"

    assert all(allowed(throttle, request("get", basic_user)) for _ in range(5))
    assert allowed(throttle, request("post", basic_user))
    assert not allowed(throttle, request("post", basic_user))


@pytest.mark.parametrize("throttle", [LinkDownloadThrottle, TokenThrottle])
def test_a_client_throttle_counts_each_address_on_its_own(
    db: None, rates: dict[str, str | None], throttle: type[PixtierThrottle]
) -> None:
    rates[str(throttle.scope)] = "1/min"

    assert allowed(throttle, request("post", remote="192.0.2.1"))
    assert not allowed(throttle, request("post", remote="192.0.2.1"))
    assert allowed(throttle, request("post", remote="198.51.100.7"))


def test_a_forged_forwarded_for_header_does_not_make_a_new_client(
    db: None, rates: dict[str, str | None]
) -> None:
    rates["token"] = "1/min"

    assert allowed(TokenThrottle, request("post", HTTP_X_FORWARDED_FOR="203.0.113.1"))
    assert not allowed(TokenThrottle, request("post", HTTP_X_FORWARDED_FOR="203.0.113.2"))


def test_behind_a_proxy_the_client_is_the_address_the_proxy_saw(
    db: None, settings: Any, rates: dict[str, str | None]
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    rates["token"] = "1/min"
    proxy = "10.0.0.2"  # nginx: it appends the address it saw to what the client sent

    def via_proxy(forwarded: str) -> Request:
        return request("post", remote=proxy, HTTP_X_FORWARDED_FOR=forwarded)

    assert allowed(TokenThrottle, via_proxy("192.0.2.1"))
    assert not allowed(TokenThrottle, via_proxy("203.0.113.9, 192.0.2.1"))  # forged first
    assert allowed(TokenThrottle, via_proxy("198.51.100.7"))


def test_a_rate_set_off_never_throttles(rates: dict[str, str | None], basic_user: User) -> None:
    rates["downloads"] = None

    assert all(allowed(DownloadThrottle, request(user=basic_user)) for _ in range(50))


def test_throttles_count_in_the_default_cache(
    rates: dict[str, str | None], basic_user: User
) -> None:
    rates["uploads"] = "5/min"

    allowed(UploadThrottle, request("post", basic_user))

    assert len(cache.get(f"throttle_uploads_user-{basic_user.pk}")) == 1


class DownCache:
    """A cache whose server does not answer (Redis down)."""

    calls = 0

    def get(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise RedisConnectionError("Connection refused")

    set = get


def test_a_cache_that_is_down_lets_requests_through_and_is_left_alone_a_while(
    rates: dict[str, str | None],
    basic_user: User,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rates["downloads"] = "1/min"
    down = DownCache()
    monkeypatch.setattr(DownloadThrottle, "cache", down)

    with caplog.at_level(logging.WARNING):
        assert all(allowed(DownloadThrottle, request(user=basic_user)) for _ in range(3))

    assert down.calls == 1  # then left alone (pixtier.common.cache.breaker)
    assert "rate limit downloads not applied: the cache is unavailable" in caplog.text


def test_a_scope_without_a_rate_is_a_configuration_error(settings: Any) -> None:
    settings.PIXTIER_THROTTLE_RATES = {}

    with pytest.raises(ImproperlyConfigured, match="PIXTIER_THROTTLE_RATES has no 'uploads'"):
        UploadThrottle()


@pytest.mark.parametrize(
    ("raw", "rate"),
    [("30/min", "30/min"), ("5/s", "5/s"), ("1000/hour", "1000/hour"), ("2/DAY", "2/day"),
     ("off", None), ("none", None), ("0", None)],
)  # fmt: skip
def test_rates_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, rate: str | None
) -> None:
    monkeypatch.setenv("THROTTLE_X", raw)

    assert env_rate("THROTTLE_X", "1/s") == rate


@pytest.mark.parametrize("raw", ["30", "0/min", "30/fortnight", "-1/min", "many/min", ""])
def test_a_malformed_rate_stops_the_start(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("THROTTLE_X", raw)

    with pytest.raises(ImproperlyConfigured, match="THROTTLE_X must be a rate like 30/min"):
        env_rate("THROTTLE_X", "1/s")


# --- through the URLs ----------------------------------------------------------------------


def test_uploads_are_limited_per_user(
    rates: dict[str, str | None],
    basic_user: User,
    premium_user: User,
    client_for: Callable[[User | None], APIClient],
) -> None:
    rates["uploads"] = "2/min"
    client = client_for(basic_user)
    assert [upload(client, jpeg_bytes(64, 48)).status_code for _ in range(2)] == [201, 201]

    assert_throttled(upload(client, jpeg_bytes(64, 48)))

    assert Image.objects.filter(owner=basic_user).count() == 2
    assert len(stored_files("originals")) == 2  # the refused upload left nothing
    assert client.get("/api/v1/images/").status_code == 200  # listing is not uploading
    assert upload(client_for(premium_user), jpeg_bytes(64, 48)).status_code == 201


def test_link_creation_is_limited_per_user(
    rates: dict[str, str | None],
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
) -> None:
    rates["link_creation"] = "2/min"
    client = client_for(enterprise_user)
    links = uploaded(enterprise_user)["expiring_links"]
    for _ in range(2):
        assert client.post(links, {"expires_in": 300}, format="json").status_code == 201

    assert_throttled(client.post(links, {"expires_in": 300}, format="json"))
    assert len(client.get(links).json()["results"]) == 2


def test_owner_downloads_are_limited_per_user_originals_and_thumbnails_together(
    rates: dict[str, str | None],
    premium_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
) -> None:
    rates["downloads"] = "3/min"
    image = uploaded(premium_user, jpeg_bytes(320, 240))
    client = client_for(premium_user)
    for url in (image["original"], image["thumbnails"][0]["url"], image["original"]):
        assert client.get(url).status_code == 200

    response = client.get(image["thumbnails"][1]["url"])

    assert_throttled(response)
    assert client.get(image["url"]).status_code == 200  # the image's JSON is not a download


def test_shared_link_downloads_are_limited_per_client_address(
    rates: dict[str, str | None],
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
) -> None:
    rates["link_downloads"] = "2/min"
    image = uploaded(enterprise_user, jpeg_bytes(320, 240))
    link = client_for(enterprise_user).post(
        image["expiring_links"], {"expires_in": 300}, format="json"
    )
    url = link.json()["url"]
    anyone = APIClient(REMOTE_ADDR="192.0.2.1")
    assert [anyone.get(url).status_code for _ in range(2)] == [200, 200]

    assert_throttled(anyone.get(url))
    assert_throttled(anyone.get(url, HTTP_X_FORWARDED_FOR="203.0.113.5"))  # forged
    assert APIClient(REMOTE_ADDR="198.51.100.7").get(url).status_code == 200


def test_password_guessing_is_limited_per_client_address(
    clock: Any, rates: dict[str, str | None], premium_user: User
) -> None:
    rates["token"] = "3/min"
    guesser = APIClient(REMOTE_ADDR="192.0.2.1")
    for guess in ("123456", "password", "qwerty"):
        body = {"username": "premium", "password": guess}
        assert guesser.post("/api/v1/auth/token/", body, format="json").status_code == 401

    right = {"username": "premium", "password": PASSWORD}
    wait = assert_throttled(guesser.post("/api/v1/auth/token/", right, format="json"))

    assert wait == 60
    owner = APIClient(REMOTE_ADDR="198.51.100.7")
    assert owner.post("/api/v1/auth/token/", right, format="json").status_code == 200


def test_the_schema_documents_429_where_requests_are_limited(db: None) -> None:
    paths = APIClient().get("/api/v1/schema/", {"format": "json"}).json()["paths"]
    limited = {
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "429" in operation["responses"]
    }

    assert limited == {
        ("POST", "/api/v1/images/"),
        ("POST", "/api/v1/images/{image_id}/expiring-links/"),
        ("GET", "/api/v1/images/{image_id}/original/"),
        ("GET", "/api/v1/images/{image_id}/thumbnails/{height}/"),
        ("GET", "/api/v1/shared/{token}/"),
        ("POST", "/api/v1/auth/token/"),
    }
