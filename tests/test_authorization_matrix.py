"""Who may do what: every endpoint x caller x tier x state -> the exact status, from the
table in tests/authorization.py. A URL without a row fails the first test."""

import uuid

import pytest

from config.urls import api as api_patterns
from tests.authorization import (
    CALLERS,
    ROWS,
    Row,
    World,
    call,
    cells,
    path_for,
    pattern_names,
    row_id,
    snapshot,
)
from tests.helpers import ORIGINAL, body_of


def test_the_table_covers_every_endpoint() -> None:
    """A new URL without a row here fails this test: decide who may call it."""
    assert pattern_names(api_patterns) == {row.name for row in ROWS}


def test_every_row_names_its_valid_state() -> None:
    for row in ROWS:
        assert "valid" in row.owner, row_id(row)


# The cells come grouped by (tier, state), so each world is built once for all of its
# cells (the shared_world fixture, conftest.py), not once per cell.
@pytest.mark.parametrize(
    ("shared_world", "row"),
    [((tier, state), row) for row, tier, state in cells()],
    ids=[f"{row_id(row)} [{tier}] {state}" for row, tier, state in cells()],
    indirect=["shared_world"],
    # Module scope for the whole parametrization: with a direct argument (row) beside the
    # indirect one, pytest would otherwise scope it per test and build a world per cell.
    scope="module",
)
def test_each_caller_gets_exactly_the_status_the_table_says(world: World, row: Row) -> None:
    tier, state = world.tier, world.state
    path = path_for(row, world, state)

    for caller in CALLERS:
        if caller == "closed":
            world.owner.is_active = False
            world.owner.save()
        before = snapshot()
        expected = row.expected(caller, tier, state)

        response = call(row, caller, world, path)

        body = body_of(response)
        cell = f"{caller} on {tier}, {state}: {body[:300]!r}"
        assert response.status_code == expected, cell
        if expected >= 400:
            assert response["Content-Type"] == "application/json", cell
            error = response.json()
            assert error["detail"] if expected != 400 else error, cell
            assert ORIGINAL[:64] not in body, cell
            assert snapshot() == before, f"{cell}: a refused request changed something"
            if expected == 401 and row.name not in ("token-obtain", "token-refresh"):
                assert response["WWW-Authenticate"] == 'Bearer realm="api"', cell
        elif row.binary and expected == 200:
            # The call accepts AVIF: thumbnails negotiate it, originals stay as uploaded.
            served = "image/jpeg" if "original" in row.path else "image/avif"
            assert response["Content-Type"] == served, cell
            assert int(response["Content-Length"]) == len(body) > 0, cell
        if expected == 404 and caller in ("stranger", "staff") and state == "valid":
            # Word for word what a made-up id gets: nothing tells that the image exists.
            made_up = path.replace(str(world.image.pk), str(uuid.uuid4()))
            assert response.json() == call(row, caller, world, made_up).json(), cell
