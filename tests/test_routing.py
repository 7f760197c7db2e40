"""Routing seen from the authorization table's worlds (tests/authorization.py): a path
without its trailing slash, every browsable page, uuid ids, 405s. Every test here uses a
shared world: a module's world stays open until pytest moves on to another (conftest.py),
so a test beside them without one would see its rows."""

import uuid
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from tests.authorization import (
    PASSWORD,
    ROWS,
    TIERS,
    Row,
    World,
    path_for,
    row_id,
)
from tests.helpers import assert_json_error

# The Enterprise owner's world (tests/authorization.py), built once for the tests here.
ENTERPRISE = pytest.mark.parametrize("shared_world", [("Enterprise", "valid")], indirect=True)


def distinct_paths(rows: list[Row]) -> list[Row]:
    seen: dict[tuple[str, str], Row] = {}
    for row in rows:
        seen.setdefault((row.method, row.path), row)
    return list(seen.values())


@ENTERPRISE
@pytest.mark.parametrize(
    "row", distinct_paths([r for r in ROWS if r.name != "api-not-found"]), ids=row_id
)
def test_a_path_without_its_trailing_slash_names_the_right_url(world: World, row: Row) -> None:
    path = path_for(row, world, "valid")

    response = getattr(APIClient(), row.method)(path.removesuffix("/"))

    assert_json_error(response, 404)
    assert f"{path} " in response.json()["detail"]


BROWSABLE = [
    row
    for row in ROWS
    if row.method == "get" and not row.binary and row.name not in ("schema", "api-not-found")
]


@pytest.mark.parametrize(
    ("shared_world", "row"),
    [((tier, "valid"), row) for tier in TIERS for row in BROWSABLE],
    ids=[f"{row_id(row)} [{tier}]" for tier in TIERS for row in BROWSABLE],
    indirect=["shared_world"],
    scope="module",  # one world per tier (see test_authorization_matrix.py)
)
def test_the_browsable_api_renders_every_page_for_a_signed_in_user(world: World, row: Row) -> None:
    tier = world.tier
    client = APIClient()
    assert client.login(username=world.owner.username, password=PASSWORD)

    response = client.get(path_for(row, world, "valid"), HTTP_ACCEPT="text/html")

    assert response.status_code == row.expected("owner", tier, "valid")
    assert response["Content-Type"].startswith("text/html")
    if row.name not in ("docs", "rest_framework:login"):
        assert world.owner.username in response.content.decode()  # signed in


@ENTERPRISE
def test_ids_are_uuids_never_sequential_numbers(world: World) -> None:
    for value in [world.image.pk, world.neighbours_image.pk, world.link.pk]:
        assert uuid.UUID(str(value)).version == 4


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
@ENTERPRISE
def test_a_method_an_endpoint_lacks_is_a_json_405(
    world: World, client_for: Callable[[User | None], APIClient], method: str, path: str
) -> None:
    client = client_for(world.owner)

    response = getattr(client, method)(path.format(image=world.image.pk))

    assert_json_error(response, 405)
