"""The authorization table and the worlds its cells run in: tests/test_authorization_matrix.py
runs every cell, tests/test_access.py reuses the worlds.

Who may do what: every endpoint x caller x tier x state of what it names -> the exact
status, derived from one table (ROWS). A URL without a row fails the first test.

Callers, all signed in with a JWT bearer token except the first:

- ``anonymous``: no credentials.
- ``owner``: the user whose image and links the path names.
- ``stranger``: another ordinary user.
- ``staff``: ``is_staff`` and ``is_superuser``, not the owner: django-admin is theirs, but
  the API gives them nothing of anyone else's.
- ``closed``: the owner, deactivated after their token was issued.

Everyone is on the tier of the cell: Basic, Premium, Enterprise, or a custom one
(``Thumbs only``: 100 and 300 px, no original, expiring links). Links of tiers without
expiring links stand for links made on an earlier tier.

States of what the path names (only those that make sense for each endpoint):

- ``valid``: the owner's image and links as made.
- ``someone-elses``: another user's image; for a link, another user's link under the
  owner's image; for a download, this link's signature on another user's link id.
- ``other-height``: this link's signature on the owner's link to another height.
- ``deleted``: the image was deleted (its links with it).
- ``expired``, ``revoked``: the link.
- ``downgraded``: the owner moved to Basic after the URLs were handed out.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver
from django.utils import timezone
from rest_framework.test import APIClient

from pixtier.accounts.models import ThumbnailSize, Tier, User
from pixtier.accounts.tokens import refresh_token_issue
from pixtier.images.models import Image
from pixtier.images.services import image_delete, image_upload
from pixtier.links.models import ExpiringLink
from pixtier.links.services import expiring_link_revoke
from pixtier.links.signing import link_token
from tests.helpers import ORIGINAL

PASSWORD = "correct horse battery staple"
TIERS = ("Basic", "Premium", "Enterprise", "Custom")
CALLERS = ("anonymous", "stranger", "staff", "owner", "closed")  # the order they call in
CUSTOM = "Thumbs only"

# What a cell expects: one status for every tier, or one per tier in TIERS order.
Status = int | tuple[int, int, int, int]
# For a caller other than the owner: a Status, one per state, or None for "as the owner".
Expect = Status | Mapping[str, Status] | None


@dataclass(frozen=True)
class Row:
    """An endpoint and what each caller gets.

    ``owner`` maps every state that makes sense for the endpoint to what the owner gets.
    ``others`` is what the stranger and the staff member get; ``None`` where the
    endpoint is about the caller's own account (then they get what the owner gets).
    """

    name: str
    method: str
    path: str  # {image}, {link} and {token}, filled in per state
    owner: Mapping[str, Status]
    anonymous: Expect = 401
    others: Expect = 404
    closed: Expect = 401
    body: str | None = None
    binary: bool = False

    def expected(self, caller: str, tier: str, state: str) -> int:
        expect: Expect = {
            "anonymous": self.anonymous,
            "stranger": self.others,
            "staff": self.others,
            "closed": self.closed,
        }.get(caller)
        if expect is None:
            expect = self.owner[state]
        if isinstance(expect, Mapping):
            expect = expect[state]
        return expect if isinstance(expect, int) else expect[TIERS.index(tier)]


def own(**states: Status) -> dict[str, Status]:
    return {"valid": 200, **states}


def image_states(valid: Status, downgraded: Status | None = None) -> dict[str, Status]:
    states = {"valid": valid, "someone-elses": 404, "deleted": 404}
    if downgraded is not None:
        states["downgraded"] = downgraded
    return states


NO_FEATURE = (403, 403)  # Basic and Premium: no expiring links
LINK_GONE = (*NO_FEATURE, 404, 404)
DOWNLOAD = {"someone-elses": 404, "other-height": 404, "deleted": 410, "expired": 410,
            "revoked": 410, "downgraded": 403}  # fmt: skip
# A closed account's links are gone (410) unless the token itself is bad (404).
CLOSED_DOWNLOAD = {**dict.fromkeys(DOWNLOAD, 410), "valid": 410, "someone-elses": 404,
                   "other-height": 404}  # fmt: skip
PUBLIC: dict[str, Any] = {"anonymous": None, "others": None, "closed": None}
ACCOUNT: dict[str, Any] = {"others": None}

# fmt: off
ROWS = [
    Row("api-root", "get", "/api/v1/", own(), **ACCOUNT),
    Row("me", "get", "/api/v1/me/", own(), **ACCOUNT),
    Row("tier-list", "get", "/api/v1/tiers/", own(), **ACCOUNT),
    Row("image-list", "get", "/api/v1/images/", own(), **ACCOUNT),
    Row("image-list", "post", "/api/v1/images/", own(valid=201), body="upload", **ACCOUNT),
    Row("image-detail", "get", "/api/v1/images/{image}/", image_states(200)),
    Row("image-detail", "delete", "/api/v1/images/{image}/", image_states(204)),
    Row("image-original", "get", "/api/v1/images/{image}/original/",
        image_states((403, 200, 200, 403), downgraded=403), binary=True),
    Row("image-thumbnail", "get", "/api/v1/images/{image}/thumbnails/200/",
        image_states((200, 200, 200, 403), downgraded=200), binary=True),
    Row("image-thumbnail", "get", "/api/v1/images/{image}/thumbnails/400/",
        image_states((403, 200, 200, 403), downgraded=403), binary=True),
    Row("image-thumbnail", "get", "/api/v1/images/{image}/thumbnails/100/",
        image_states((403, 403, 403, 200), downgraded=403), binary=True),
    Row("image-expiring-links", "get", "/api/v1/images/{image}/expiring-links/",
        image_states((*NO_FEATURE, 200, 200), downgraded=403)),
    # A link to the original needs the tier's original too; a height must be the tier's.
    Row("image-expiring-links", "post", "/api/v1/images/{image}/expiring-links/",
        image_states((*NO_FEATURE, 201, 403), downgraded=403), body="link-original"),
    Row("image-expiring-links", "post", "/api/v1/images/{image}/expiring-links/",
        image_states((*NO_FEATURE, 201, 400), downgraded=403), body="link-200"),
    Row("expiring-link-detail", "get", "/api/v1/images/{image}/expiring-links/{link}/",
        {**image_states((*NO_FEATURE, 200, 200), downgraded=403),
         "someone-elses": LINK_GONE, "expired": LINK_GONE, "revoked": LINK_GONE}),
    # Revoking is allowed on every tier, so links made on an earlier one can be killed.
    Row("expiring-link-detail", "delete", "/api/v1/images/{image}/expiring-links/{link}/",
        {**image_states(204, downgraded=204), "expired": 404, "revoked": 404}),
    # Public: the URL is the credential, whoever (if anyone) is signed in.
    Row("expiring-link-download", "get", "/api/v1/shared/{token}/",
        {"valid": (*NO_FEATURE, 200, 200), **DOWNLOAD},
        **{**PUBLIC, "closed": CLOSED_DOWNLOAD}, binary=True),
    Row("expiring-link-download", "get", "/api/v1/shared/{original-token}/",
        {"valid": (*NO_FEATURE, 200, 403), **DOWNLOAD},
        **{**PUBLIC, "closed": CLOSED_DOWNLOAD}, binary=True),
    Row("token-obtain", "post", "/api/v1/auth/token/", own(), body="credentials",
        **{**PUBLIC, "closed": 401}),
    Row("token-refresh", "post", "/api/v1/auth/token/refresh/", own(), body="refresh",
        **{**PUBLIC, "closed": 401}),
    Row("rest_framework:login", "get", "/api/v1/auth/login/", own(), **PUBLIC),
    Row("rest_framework:logout", "post", "/api/v1/auth/logout/", own(), **PUBLIC),
    # These read no credentials at all: a stale bearer token is no reason to refuse them.
    Row("schema", "get", "/api/v1/schema/", own(), **PUBLIC),
    Row("docs", "get", "/api/v1/docs/", own(), **PUBLIC),
    Row("api-not-found", "get", "/api/v1/no-such-thing/", own(valid=404), **PUBLIC),
]
# fmt: on


def row_id(row: Row) -> str:
    return f"{row.method.upper()} {row.path}" + (f" {row.body}" if row.body else "")


def cells() -> list[tuple[Row, str, str]]:
    """Every (row, tier, state), grouped by (tier, state): the cells of one world together."""
    states = list(dict.fromkeys(state for row in ROWS for state in row.owner))
    return [
        (row, tier, state)
        for tier in TIERS
        for state in states
        for row in ROWS
        if state in row.owner
    ]


def pattern_names(patterns: list[URLPattern | URLResolver], prefix: str = "") -> set[str]:
    names = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            namespace = f"{pattern.namespace}:" if pattern.namespace else ""
            names |= pattern_names(pattern.url_patterns, prefix + namespace)
        elif pattern.name:
            names.add(prefix + pattern.name)
    return names


# --- the world a cell runs in ------------------------------------------------------------


@dataclass
class World:
    tier: str
    state: str
    owner: User
    neighbour: User  # owns "someone else's" image and link
    stranger: User
    staff: User
    image: Image
    neighbours_image: Image
    link: ExpiringLink  # to a thumbnail of the tier's first height
    original_link: ExpiringLink
    other_height_link: ExpiringLink
    neighbours_link: ExpiringLink
    tokens: dict[str, str]  # a JWT access token per signed-in caller, issued up front
    refresh: dict[str, str]


def tier_name(tier: str) -> str:
    return CUSTOM if tier == "Custom" else tier


def make_link(image: Image, height: int | None, *, expired: bool = False) -> ExpiringLink:
    """A link made directly, as on an earlier tier that had expiring links."""
    now = timezone.now().replace(microsecond=0)
    start = now - timedelta(seconds=3600) if expired else now
    return ExpiringLink.objects.create(
        image=image,
        height=height,
        expires_in=300,
        created_at=start,
        expires_at=start + timedelta(seconds=300),
    )


def upload_as(user: User) -> Image:
    file = SimpleUploadedFile("photo.jpg", ORIGINAL, content_type="image/jpeg")
    return image_upload(owner=user, file=file, title="photo")


def make_user(tier: str, *, username: str, **extra: Any) -> User:
    return User.objects.create_user(
        username=username, password=PASSWORD, tier=Tier.objects.get(name=tier), **extra
    )


def custom_tier_create() -> Tier:
    tier = Tier.objects.create(name=CUSTOM, original_link=False, expiring_links=True)
    ThumbnailSize.objects.bulk_create(ThumbnailSize(tier=tier, height=h) for h in (100, 300))
    return tier


def build_world(tier: str, state: str = "valid") -> World:
    """Four users on ``tier``, two uploads and four links, then ``state`` applied. Built
    once per (tier, state) and shared by its cells (the ``world`` fixture, conftest.py)."""
    name = tier_name(tier)
    owner = make_user(name, username="owner")
    neighbour = make_user(name, username="neighbour")
    stranger = make_user(name, username="stranger")
    staff = make_user(name, username="staff", is_staff=True, is_superuser=True)
    image, neighbours_image = upload_as(owner), upload_as(neighbour)
    first, other = (100, 300) if tier == "Custom" else (200, 400)
    expired = state == "expired"
    world = World(
        tier=tier,
        state=state,
        owner=owner,
        neighbour=neighbour,
        stranger=stranger,
        staff=staff,
        image=image,
        neighbours_image=neighbours_image,
        link=make_link(image, first, expired=expired),
        original_link=make_link(image, None, expired=expired),
        other_height_link=make_link(image, other),
        neighbours_link=make_link(neighbours_image, first),
        tokens={},
        refresh={},
    )
    for caller, user in [("owner", owner), ("stranger", stranger), ("staff", staff)]:
        refresh = refresh_token_issue(user=user)
        world.tokens[caller], world.refresh[caller] = str(refresh.access_token), str(refresh)
    world.tokens["closed"], world.refresh["closed"] = world.tokens["owner"], world.refresh["owner"]
    del world.refresh["owner"]  # the closed account's now: the owner's calls get fresh ones
    if state == "deleted":
        image_delete(image=Image.objects.get(pk=image.pk))  # keeps world.image's id
    elif state == "revoked":
        for link in (world.link, world.original_link):
            expiring_link_revoke(link=link)
    elif state == "downgraded":
        owner.tier = Tier.objects.get(name="Basic")
        owner.save()
    return world


def token(link: ExpiringLink) -> str:
    return link_token(link_id=link.pk, expires_at=int(link.expires_at.timestamp()))


def spliced(link: ExpiringLink, onto: ExpiringLink) -> str:
    """``link``'s token with ``onto``'s id in place of its own: a signature re-used."""
    own_token = token(link)
    spliced_token = own_token.replace(link.pk.hex, onto.pk.hex)
    assert spliced_token != own_token
    return spliced_token


def path_for(row: Row, world: World, state: str) -> str:
    image, link = world.image.pk, world.link.pk
    tokens = {"token": token(world.link), "original-token": token(world.original_link)}
    if state == "someone-elses":
        if "{link}" in row.path:
            link = world.neighbours_link.pk
        else:
            image = world.neighbours_image.pk
        tokens = {
            "token": spliced(world.link, world.neighbours_link),
            "original-token": spliced(world.original_link, world.neighbours_link),
        }
    elif state == "other-height":
        tokens = {
            "token": spliced(world.link, world.other_height_link),
            "original-token": spliced(world.original_link, world.other_height_link),
        }
    return row.path.format_map({"image": image, "link": link, **tokens})


def client_of(caller: str, world: World) -> APIClient:
    client = APIClient()
    if caller != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[caller]}")
    return client


def user_of(caller: str, world: World) -> User:
    return {"stranger": world.stranger, "staff": world.staff}.get(caller, world.owner)


def call(row: Row, caller: str, world: World, path: str) -> Any:
    client = client_of(caller, world)
    # What an <img> tag asks for: errors must still be JSON, never a 406.
    extra = {"HTTP_ACCEPT": "image/avif,image/*;q=0.8"} if row.binary else {}
    if row.body == "upload":
        file = SimpleUploadedFile("photo.jpg", ORIGINAL, content_type="image/jpeg")
        return client.post(path, {"file": file}, format="multipart")
    data: Any = {
        None: None,
        "link-original": {"expires_in": 300},
        "link-200": {"expires_in": 300, "height": 200},
        "credentials": {"username": user_of(caller, world).username, "password": PASSWORD},
    }.get(row.body)
    if row.body == "refresh":
        # A refresh token works once (rotation): each call gets a fresh one. The anonymous
        # caller presents the owner's; the closed account's was issued before it closed.
        data = {"refresh": world.refresh.get(caller) or str(refresh_token_issue(user=world.owner))}
    return getattr(client, row.method)(path, data, format="json", **extra)


def snapshot() -> tuple[set[Any], set[Any]]:
    """What a refused request must leave as it was: the images, the links' states."""
    return (
        set(Image.objects.values_list("id", "title")),
        set(ExpiringLink.objects.values_list("id", "revoked_at", "expires_at")),
    )
