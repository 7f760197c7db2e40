"""Who may call what: one table of every API endpoint against each kind of caller."""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from config.urls import api as api_patterns
from pixtier.accounts.models import User
from pixtier.images.models import Image
from pixtier.links.models import ExpiringLink
from tests.conftest import jpeg_bytes

PASSWORD = "correct horse battery staple"
TIERS = ("Basic", "Premium", "Enterprise")
ORIGINAL = jpeg_bytes(800, 600)


@dataclass
class World:
    """An image per tier user, and a link to the Enterprise user's image."""

    users: dict[str, User]
    images: dict[str, str]
    links: dict[str, str]  # a real link for Enterprise; any UUID for the others
    download: str
    refresh: str


@pytest.fixture
def world(
    basic_user: User,
    premium_user: User,
    enterprise_user: User,
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
) -> World:
    users = {"Basic": basic_user, "Premium": premium_user, "Enterprise": enterprise_user}
    images = {name: uploaded(user, ORIGINAL)["id"] for name, user in users.items()}
    links = {name: str(uuid.uuid4()) for name in users}
    response = client_for(enterprise_user).post(
        f"/api/v1/images/{images['Enterprise']}/expiring-links/",
        {"expires_in": 3000},
        format="json",
    )
    assert response.status_code == 201, response.content
    links["Enterprise"] = response.json()["id"]
    return World(
        users=users,
        images=images,
        links=links,
        download=response.json()["url"],
        refresh=str(RefreshToken.for_user(enterprise_user)),
    )


@dataclass(frozen=True)
class Endpoint:
    """An endpoint and the status each caller gets.

    ``tiers`` is what the owner gets per tier (Basic, Premium, Enterprise).
    ``stranger`` is what another user gets for the Enterprise user's resources
    (``None`` when the endpoint is not about one user's resources).
    """

    name: str
    method: str
    path: str  # {image} and {link} are the caller's own (the owner's, for strangers)
    anonymous: int
    tiers: tuple[int, int, int]
    stranger: int | None = None
    body: str | None = None
    binary: bool = False


E = Endpoint
ENDPOINTS = [
    E("api-root", "get", "/api/v1/", 401, (200, 200, 200)),
    E("me", "get", "/api/v1/me/", 401, (200, 200, 200)),
    E("tier-list", "get", "/api/v1/tiers/", 401, (200, 200, 200)),
    E("image-list", "get", "/api/v1/images/", 401, (200, 200, 200)),
    E("image-list", "post", "/api/v1/images/", 401, (201, 201, 201), body="upload"),
    E("image-detail", "get", "/api/v1/images/{image}/", 401, (200, 200, 200), 404),
    E("image-detail", "delete", "/api/v1/images/{image}/", 401, (204, 204, 204), 404),
    E(
        "image-original",
        "get",
        "/api/v1/images/{image}/original/",
        401,
        (403, 200, 200),
        404,
        binary=True,
    ),
    E(
        "image-thumbnail",
        "get",
        "/api/v1/images/{image}/thumbnails/200/",
        401,
        (200, 200, 200),
        404,
        binary=True,
    ),
    E(
        "image-thumbnail",
        "get",
        "/api/v1/images/{image}/thumbnails/400/",
        401,
        (403, 200, 200),
        404,
        binary=True,
    ),
    E(
        "image-thumbnail",
        "get",
        "/api/v1/images/{image}/thumbnails/300/",
        401,
        (403, 403, 403),
        404,
        binary=True,
    ),
    E(
        "image-expiring-links",
        "get",
        "/api/v1/images/{image}/expiring-links/",
        401,
        (403, 403, 200),
        404,
    ),
    E(
        "image-expiring-links",
        "post",
        "/api/v1/images/{image}/expiring-links/",
        401,
        (403, 403, 201),
        404,
        body="link",
    ),
    E(
        "expiring-link-detail",
        "get",
        "/api/v1/images/{image}/expiring-links/{link}/",
        401,
        (403, 403, 200),
        404,
    ),
    E(
        "expiring-link-detail",
        "delete",
        "/api/v1/images/{image}/expiring-links/{link}/",
        401,
        # Revoking is allowed on any tier; Basic and Premium users have no links to revoke.
        (404, 404, 204),
        404,
    ),
    # Public: the URL is the credential, whoever (if anyone) is signed in.
    E("expiring-link-download", "get", "{download}", 200, (200, 200, 200), 200, binary=True),
    E("token-obtain", "post", "/api/v1/auth/token/", 200, (200, 200, 200), body="credentials"),
    E("token-refresh", "post", "/api/v1/auth/token/refresh/", 200, (200, 200, 200), body="refresh"),
    E("rest_framework:login", "get", "/api/v1/auth/login/", 200, (200, 200, 200)),
    E("rest_framework:logout", "post", "/api/v1/auth/logout/", 200, (200, 200, 200)),
    E("schema", "get", "/api/v1/schema/", 200, (200, 200, 200)),
    E("docs", "get", "/api/v1/docs/", 200, (200, 200, 200)),
    E("api-not-found", "get", "/api/v1/no-such-thing/", 404, (404, 404, 404)),
]


def endpoint_id(endpoint: Endpoint) -> str:
    return f"{endpoint.method.upper()} {endpoint.path}"


def owned(endpoint: Endpoint) -> bool:
    return "{image}" in endpoint.path


def pattern_names(patterns: list[URLPattern | URLResolver], prefix: str = "") -> set[str]:
    names = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            namespace = f"{pattern.namespace}:" if pattern.namespace else ""
            names |= pattern_names(pattern.url_patterns, prefix + namespace)
        elif pattern.name:
            names.add(prefix + pattern.name)
    return names


def call(client: APIClient, endpoint: Endpoint, world: World, tier: str) -> Any:
    path = endpoint.path.format(
        image=world.images[tier], link=world.links[tier], download=world.download
    )
    # What an <img> tag asks for: errors must still be JSON, never a 406.
    extra = {"HTTP_ACCEPT": "image/avif,image/*;q=0.8"} if endpoint.binary else {}
    data: Any = None
    if endpoint.body == "upload":
        file = SimpleUploadedFile("photo.jpg", jpeg_bytes(), content_type="image/jpeg")
        return client.post(path, {"file": file}, format="multipart")
    if endpoint.body == "link":
        data = {"expires_in": 300}
    elif endpoint.body == "credentials":
        data = {"username": "enterprise", "password": PASSWORD}
    elif endpoint.body == "refresh":
        data = {"refresh": world.refresh}
    return getattr(client, endpoint.method)(path, data, format="json", **extra)


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def assert_json_error(response: Any, status: int) -> None:
    assert response.status_code == status, body_of(response)[:300]
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"detail"}
    assert response.json()["detail"]
    assert ORIGINAL[:64] not in body_of(response)


def missing_image(world: World) -> World:
    """The same world, but every path names an image that does not exist."""
    return World(**{**world.__dict__, "images": dict.fromkeys(TIERS, str(uuid.uuid4()))})


def assert_untouched(world: World) -> None:
    """The Enterprise user's image and link are still there, the link still live."""
    assert Image.objects.filter(pk=world.images["Enterprise"]).exists()
    assert list(ExpiringLink.objects.values_list("id", "revoked_at")) == [
        (uuid.UUID(world.links["Enterprise"]), None)
    ]


def test_the_table_covers_every_endpoint() -> None:
    """A new URL without a row here fails this test: decide who may call it."""
    assert pattern_names(api_patterns) == {endpoint.name for endpoint in ENDPOINTS}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
def test_an_anonymous_caller(world: World, endpoint: Endpoint) -> None:
    response = call(APIClient(), endpoint, world, "Enterprise")

    if endpoint.anonymous == 401:
        assert_json_error(response, 401)
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    elif endpoint.anonymous >= 400:
        assert_json_error(response, endpoint.anonymous)
    else:
        assert response.status_code == endpoint.anonymous, body_of(response)[:300]
    assert_untouched(world)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
def test_the_owner_on_each_tier(
    world: World, client_for: Callable[[User | None], APIClient], endpoint: Endpoint, tier: str
) -> None:
    expected = endpoint.tiers[TIERS.index(tier)]

    response = call(client_for(world.users[tier]), endpoint, world, tier)

    if expected >= 400:
        assert_json_error(response, expected)
        return
    assert response.status_code == expected, body_of(response)[:300]
    if endpoint.binary:
        assert response["Content-Type"] == "image/jpeg"
        assert int(response["Content-Length"]) == len(body_of(response)) > 0


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if owned(e)], ids=endpoint_id)
def test_a_stranger_cannot_tell_someone_elses_image_exists(
    world: World,
    make_user: Callable[..., User],
    client_for: Callable[[User | None], APIClient],
    endpoint: Endpoint,
    tier: str,
) -> None:
    stranger = client_for(make_user(tier, username="stranger"))

    response = call(stranger, endpoint, world, "Enterprise")

    assert endpoint.stranger == 404
    assert_json_error(response, 404)
    # Word for word what a made-up id gets: nothing tells that the image exists.
    assert response.json() == call(stranger, endpoint, missing_image(world), "Enterprise").json()
    assert_untouched(world)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if owned(e)], ids=endpoint_id)
def test_a_missing_image_is_404_for_every_tier(
    world: World, client_for: Callable[[User | None], APIClient], endpoint: Endpoint
) -> None:
    for tier in TIERS:
        response = call(client_for(world.users[tier]), endpoint, missing_image(world), tier)
        assert_json_error(response, 404)
    assert_untouched(world)


@pytest.mark.parametrize(
    "endpoint", [e for e in ENDPOINTS if e.name != "api-not-found"], ids=endpoint_id
)
def test_a_path_without_its_trailing_slash_names_the_right_url(
    world: World, endpoint: Endpoint
) -> None:
    path = endpoint.path.format(
        image=world.images["Enterprise"], link=world.links["Enterprise"], download=world.download
    ).removeprefix("http://testserver")

    response = getattr(APIClient(), endpoint.method)(path.removesuffix("/"))

    assert_json_error(response, 404)
    assert f"{path} " in response.json()["detail"]


@pytest.mark.parametrize(
    "endpoint",
    [
        e
        for e in ENDPOINTS
        if e.method == "get" and not e.binary and e.name not in ("schema", "api-not-found")
    ],
    ids=endpoint_id,
)
@pytest.mark.parametrize("tier", TIERS)
def test_the_browsable_api_renders_every_page_for_a_signed_in_user(
    world: World, endpoint: Endpoint, tier: str
) -> None:
    client = APIClient()
    assert client.login(username=world.users[tier].username, password=PASSWORD)
    path = endpoint.path.format(
        image=world.images[tier], link=world.links[tier], download=world.download
    )

    response = client.get(path, HTTP_ACCEPT="text/html")

    assert response.status_code == endpoint.tiers[TIERS.index(tier)]
    assert response["Content-Type"].startswith("text/html")
    if endpoint.name not in ("docs", "rest_framework:login"):
        assert world.users[tier].username in response.content.decode()  # signed in


@pytest.mark.parametrize("debug", [False, True])
def test_a_path_without_its_trailing_slash_is_json_even_with_debug_on(
    settings: Any, db: None, debug: bool
) -> None:
    settings.DEBUG = debug

    response = APIClient().post("/api/v1/images", {}, format="json")

    assert_json_error(response, 404)
    assert "/api/v1/images/" in response.json()["detail"]


def test_an_unknown_path_outside_the_api_is_a_json_404(db: None) -> None:
    assert_json_error(APIClient().get("/no-such-page/"), 404)


def test_ids_are_uuids_never_sequential_numbers(world: World) -> None:
    for value in [*world.images.values(), world.links["Enterprise"]]:
        assert uuid.UUID(value).version == 4


# --- what the signed-in user sees --------------------------------------------------------


@pytest.mark.parametrize(
    "tier",
    [
        {"name": "Basic", "heights": [200], "original": False, "links": False},
        {"name": "Premium", "heights": [200, 400], "original": True, "links": False},
        {"name": "Enterprise", "heights": [200, 400], "original": True, "links": True},
    ],
    ids=lambda tier: tier["name"],
)
def test_me_shows_the_tier_and_what_it_allows(
    make_user: Callable[..., User],
    client_for: Callable[[User | None], APIClient],
    tier: dict[str, Any],
) -> None:
    user = make_user(tier["name"])

    me = client_for(user).get("/api/v1/me/").json()

    assert me["username"] == user.username
    assert me["tier"] == {
        "name": tier["name"],
        "thumbnail_heights": tier["heights"],
        "original_link": tier["original"],
        "expiring_links": tier["links"],
    }


def test_me_follows_a_tier_change_at_once(
    basic_user: User, tier: Callable[[str], Any], client_for: Callable[[User | None], APIClient]
) -> None:
    client = client_for(basic_user)
    assert client.get("/api/v1/me/").json()["tier"]["name"] == "Basic"

    basic_user.tier = tier("Enterprise")
    basic_user.save()

    assert client.get("/api/v1/me/").json()["tier"]["expiring_links"] is True


def test_tiers_lists_the_three_built_in_tiers_with_their_heights(
    basic_user: User, client_for: Callable[[User | None], APIClient]
) -> None:
    response = client_for(basic_user).get("/api/v1/tiers/")

    assert response.status_code == 200
    assert sorted(response.json(), key=lambda t: t["name"]) == [
        {
            "name": "Basic",
            "thumbnail_heights": [200],
            "original_link": False,
            "expiring_links": False,
        },
        {
            "name": "Enterprise",
            "thumbnail_heights": [200, 400],
            "original_link": True,
            "expiring_links": True,
        },
        {
            "name": "Premium",
            "thumbnail_heights": [200, 400],
            "original_link": True,
            "expiring_links": False,
        },
    ]


def test_tiers_is_read_only(
    basic_user: User, client_for: Callable[[User | None], APIClient]
) -> None:
    client = client_for(basic_user)

    response = client.post("/api/v1/tiers/", {"name": "Mine"}, format="json")

    assert_json_error(response, 405)


def test_the_api_root_lists_working_endpoints(
    enterprise_user: User, client_for: Callable[[User | None], APIClient]
) -> None:
    client = client_for(enterprise_user)

    root = client.get("/api/v1/").json()

    assert {"me", "tiers", "images", "token", "token_refresh", "schema", "docs"} <= set(root)
    for key, url in root.items():
        assert re.fullmatch(r"http://testserver/api/v1/[\w/-]*", url), (key, url)
        status = client.get(url).status_code
        assert status in (200, 405), (key, url, status)  # token endpoints only take POST


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/v1/me/"),
        ("delete", "/api/v1/images/"),
        ("patch", "/api/v1/images/{image}/"),
        ("post", "/api/v1/images/{image}/original/"),
        ("put", "/api/v1/images/{image}/expiring-links/"),
    ],
)
def test_a_method_an_endpoint_lacks_is_a_json_405(
    world: World, client_for: Callable[[User | None], APIClient], method: str, path: str
) -> None:
    client = client_for(world.users["Enterprise"])

    response = getattr(client, method)(path.format(image=world.images["Enterprise"]))

    assert_json_error(response, 405)
