"""Links that count (SPEC 11): an optional max_downloads, the count in the link's
representation, 410 after the last allowed download, and exact counting under
concurrency."""

import io
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from pixtier.links import counting
from pixtier.links.models import ExpiringLink
from pixtier.links.services import link_downloads_flush
from tests.concurrency import at_once
from tests.helpers import ORIGINAL, body_of, share

Clients = Callable[[User | None], APIClient]


# --- creating a counting link ------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_downloads", "status"),
    [(0, 400), (1, 201), (1_000_000, 201), (1_000_001, 400), (-1, 400), (None, 201)],
)
def test_it_accepts_a_download_limit_from_1_to_1000000(
    owner: APIClient, image: dict[str, Any], max_downloads: int | None, status: int
) -> None:
    response = owner.post(
        image["expiring_links"],
        {"expires_in": 300, "max_downloads": max_downloads},
        format="json",
    )

    assert response.status_code == status, response.content
    if status == 201:
        assert response.json()["max_downloads"] == max_downloads
        assert response.json()["downloads"] == 0
    else:
        assert response.json()["max_downloads"][0]
        assert not ExpiringLink.objects.exists()


@pytest.mark.parametrize("value", ["ten", 2.5, [3], {"n": 3}, True])
def test_it_refuses_a_download_limit_that_is_not_a_whole_number(
    owner: APIClient, image: dict[str, Any], value: Any
) -> None:
    response = owner.post(
        image["expiring_links"], {"expires_in": 300, "max_downloads": value}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["max_downloads"][0]
    assert not ExpiringLink.objects.exists()


def test_the_link_shows_its_limit_and_count_in_create_list_and_detail(
    owner: APIClient, image: dict[str, Any]
) -> None:
    created = share(owner, image, max_downloads=5)

    listed = owner.get(image["expiring_links"]).json()["results"]
    detail = owner.get(created["api_url"]).json()

    for link in (created, listed[0], detail):
        assert link["max_downloads"] == 5
        assert link["downloads"] == 0
        assert link["last_downloaded_at"] is None


def stored_link(link: dict[str, Any]) -> ExpiringLink:
    return ExpiringLink.objects.get(pk=link["id"])


# --- what counts -------------------------------------------------------------------------


def test_each_full_download_counts_and_the_link_answers_410_after_the_last(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any], time_machine: Any
) -> None:
    time_machine.move_to("2026-11-22 10:00:00+00:00", tick=False)
    link = share(owner, image, max_downloads=2)

    first = anonymous.get(link["url"])
    time_machine.shift(30)
    second = anonymous.get(link["url"])
    third = anonymous.get(link["url"])

    assert (first.status_code, second.status_code) == (200, 200)
    assert body_of(first) == body_of(second) == ORIGINAL
    assert third.status_code == 410
    assert third.json() == {"detail": "This link's 2 download(s) have been used."}
    assert ORIGINAL[:64] not in third.content
    row = stored_link(link)
    assert row.downloads == 2
    assert row.last_downloaded_at is not None
    assert row.last_downloaded_at.isoformat() == "2026-11-22T10:00:30+00:00"


def test_a_used_up_link_leaves_the_valid_list_and_its_detail_is_gone(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    used = share(owner, image, max_downloads=1)
    other = share(owner, image, max_downloads=2)
    assert anonymous.get(used["url"]).status_code == 200
    assert anonymous.get(other["url"]).status_code == 200

    listed = owner.get(image["expiring_links"]).json()["results"]

    assert [(link["id"], link["downloads"]) for link in listed] == [(other["id"], 1)]
    assert owner.get(used["api_url"]).status_code == 404
    detail = owner.get(other["api_url"]).json()
    assert (detail["downloads"], detail["max_downloads"]) == (1, 2)
    assert detail["last_downloaded_at"] is not None


def test_head_and_304_do_not_count(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, max_downloads=2)

    head = anonymous.head(link["url"])
    full = anonymous.get(link["url"])
    revalidated = anonymous.get(link["url"], HTTP_IF_NONE_MATCH=full["ETag"])

    assert head.status_code == 200
    assert revalidated.status_code == 304
    assert stored_link(link).downloads == 1
    assert anonymous.get(link["url"]).status_code == 200  # the second download
    assert stored_link(link).downloads == 2


@pytest.mark.parametrize(
    ("range_header", "counts"),
    [("bytes=0-99", True), ("bytes=0-", True), ("bytes=100-199", False), ("bytes=-100", False)],
)
def test_a_byte_range_counts_only_when_it_starts_the_file(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any], range_header: str, counts: bool
) -> None:
    link = share(owner, image, max_downloads=5)

    response = anonymous.get(link["url"], HTTP_RANGE=range_header)

    assert response.status_code == 206
    assert stored_link(link).downloads == (1 if counts else 0)


def test_after_the_last_download_head_304_and_later_ranges_are_410_too(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, max_downloads=1)
    full = anonymous.get(link["url"], HTTP_RANGE="bytes=0-99")
    assert full.status_code == 206

    assert anonymous.head(link["url"]).status_code == 410
    assert anonymous.get(link["url"], HTTP_IF_NONE_MATCH=full["ETag"]).status_code == 410
    assert anonymous.get(link["url"], HTTP_RANGE="bytes=100-").status_code == 410
    assert stored_link(link).downloads == 1


def test_a_thumbnail_link_counts_too(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, max_downloads=1, height=200)

    assert anonymous.get(link["url"]).status_code == 200
    assert anonymous.get(link["url"]).status_code == 410


def test_an_unlimited_link_counts_its_downloads(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image)

    for _ in range(3):
        assert anonymous.get(link["url"]).status_code == 200
    anonymous.head(link["url"])

    shown = owner.get(link["api_url"]).json()
    assert (shown["downloads"], shown["max_downloads"]) == (3, None)
    assert shown["last_downloaded_at"] is not None


def test_the_purge_deletes_used_up_links_like_expired_ones(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    used = share(owner, image, max_downloads=1)
    left = share(owner, image, max_downloads=2)
    unlimited = share(owner, image)
    for link in (used, left, unlimited):
        assert anonymous.get(link["url"]).status_code == 200

    call_command("purge_expired_links", stdout=io.StringIO())

    assert set(ExpiringLink.objects.values_list("id", flat=True)) == {
        uuid.UUID(left["id"]),
        uuid.UUID(unlimited["id"]),
    }
    assert anonymous.get(used["url"]).status_code == 410


# --- exact under concurrency -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("parallel", "left"), [(8, 3), (4, 6), (6, 6)])
def test_k_parallel_downloads_with_n_left_give_exactly_min_k_n_bodies(
    enterprise_user: User, uploaded: Callable[..., dict[str, Any]], parallel: int, left: int
) -> None:
    owner = APIClient()
    owner.force_authenticate(enterprise_user)
    link = share(owner, uploaded(enterprise_user, ORIGINAL), max_downloads=left)

    def download() -> tuple[int, bytes]:
        response = APIClient().get(link["url"])
        return response.status_code, body_of(response)

    results = at_once([download] * parallel)

    served = [body for status, body in results if status == 200]
    assert len(served) == min(parallel, left)
    assert all(body == ORIGINAL for body in served)
    assert sorted(status for status, _ in results) == [200] * len(served) + [410] * (
        parallel - len(served)
    )
    assert stored_link(link).downloads == min(parallel, left)


# --- unlimited links counted through Redis -----------------------------------------------


@pytest.fixture
def redis_counting(redis_cache: None, redis_url: str) -> Iterator[redis.Redis]:
    """Redis as with REDIS_URL (conftest's redis_cache): unlimited links count there."""
    client = redis.Redis.from_url(redis_url)
    client.delete(counting.COUNTS, counting.LAST)
    yield client
    client.delete(counting.COUNTS, counting.LAST)


def test_with_redis_an_unlimited_download_writes_nothing_yet_shows_at_once(
    redis_counting: redis.Redis, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image)

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert anonymous.get(link["url"]).status_code == 200

    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert stored_link(link).downloads == 0  # not written yet
    listed = owner.get(image["expiring_links"]).json()["results"][0]
    detail = owner.get(link["api_url"]).json()
    assert listed["downloads"] == detail["downloads"] == 3
    assert detail["last_downloaded_at"] is not None


def downloaded(
    owner: APIClient, anonymous: APIClient, image: dict[str, Any], *, times: tuple[int, ...]
) -> list[dict[str, Any]]:
    """One new unlimited link per entry of ``times``, each downloaded that many times."""
    links = [share(owner, image) for _ in times]
    for link, count in zip(links, times, strict=True):
        for _ in range(count):
            assert anonymous.get(link["url"]).status_code == 200
    return links


def test_the_flush_writes_the_batched_counts_to_the_rows_once(
    redis_counting: redis.Redis, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    links = downloaded(owner, anonymous, image, times=(2, 5))

    assert link_downloads_flush() == 2
    assert link_downloads_flush() == 0  # nothing counted twice

    assert [stored_link(link).downloads for link in links] == [2, 5]
    assert all(stored_link(link).last_downloaded_at is not None for link in links)
    assert [owner.get(link["api_url"]).json()["downloads"] for link in links] == [2, 5]
    assert anonymous.get(links[0]["url"]).status_code == 200
    assert owner.get(links[0]["api_url"]).json()["downloads"] == 3


# Committed as it goes, as in production (no test transaction around the flush).
@pytest.mark.django_db(transaction=True)
def test_a_flush_the_database_fails_half_way_loses_no_download(
    redis_counting: redis.Redis, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    links = downloaded(owner, anonymous, image, times=(2, 3))
    updates = 0

    def second_update_fails(execute: Any, sql: str, *args: Any) -> Any:
        nonlocal updates
        if sql.startswith("UPDATE"):
            updates += 1
            if updates == 2:
                raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, *args)

    with connection.execute_wrapper(second_update_fails), pytest.raises(OperationalError):
        link_downloads_flush()

    # One link's batch is in its row, the other's is pending again: both show in full.
    assert sorted(stored_link(link).downloads for link in links) in ([0, 2], [0, 3])
    assert [owner.get(link["api_url"]).json()["downloads"] for link in links] == [2, 3]
    assert link_downloads_flush() == 1
    assert [stored_link(link).downloads for link in links] == [2, 3]
    assert all(stored_link(link).last_downloaded_at is not None for link in links)


def test_a_warm_limited_link_download_asks_the_database_one_conditional_update(
    redis_counting: redis.Redis, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, expires_in=30000, max_downloads=5)
    assert anonymous.get(link["url"]).status_code == 200

    with CaptureQueriesContext(connection) as queries:
        response = anonymous.get(link["url"])

    assert response.status_code == 200
    # Never cached (its count decides), so its one read, then the counting UPDATE.
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["SELECT", "UPDATE"]


def test_a_limited_link_is_counted_in_the_database_even_with_redis(
    redis_counting: redis.Redis, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    link = share(owner, image, max_downloads=1)

    assert anonymous.get(link["url"]).status_code == 200
    assert anonymous.get(link["url"]).status_code == 410

    assert stored_link(link).downloads == 1
    assert not redis_counting.exists(counting.COUNTS)


def test_with_redis_down_an_unlimited_download_is_still_counted(
    settings: Any, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    link = share(owner, image)

    assert anonymous.get(link["url"]).status_code == 200

    assert owner.get(link["api_url"]).json()["downloads"] == 1
    link_downloads_flush()  # Celery beat's task: Redis is down, the process's batch is not
    assert stored_link(link).downloads == 1


def test_a_warm_unlimited_download_is_decided_and_counted_in_one_round_trip_to_redis(
    redis_counting: redis.Redis,
    owner: APIClient,
    anonymous: APIClient,
    image: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    # The rate limit keeps counters of its own in the cache (DRF's, two round trips).
    settings.PIXTIER_THROTTLE_RATES = {**settings.PIXTIER_THROTTLE_RATES, "link_downloads": None}
    link = share(owner, image)
    full = anonymous.get(link["url"])
    assert anonymous.get(link["url"]).status_code == 200  # the second stores the decision
    round_trips: list[bytes] = []
    send: Any = redis.connection.Connection.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        round_trips.append(command)
        send(self, command, check_health)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counted)  # a spy
    with CaptureQueriesContext(connection) as queries:
        body = body_of(anonymous.get(link["url"]))
        head = anonymous.head(link["url"])
        revalidated = anonymous.get(link["url"], HTTP_IF_NONE_MATCH=full["ETag"])
        later_range = anonymous.get(link["url"], HTTP_RANGE="bytes=100-")

    assert body == ORIGINAL
    assert (head.status_code, revalidated.status_code, later_range.status_code) == (200, 304, 206)
    assert queries.captured_queries == []
    # The full download: one round trip for the decision and its count; the rest are
    # decided in one each and not counted.
    assert len(round_trips) == 4
    assert owner.get(link["api_url"]).json()["downloads"] == 3


# --- unlimited links counted in the process, without Redis -------------------------------


def test_without_redis_an_unlimited_download_asks_one_query_and_shows_at_once(
    no_cache: None, settings: Any, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    settings.PIXTIER_LINK_DOWNLOADS_LOCAL_SECONDS = 3600
    link = share(owner, image)

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert anonymous.get(link["url"]).status_code == 200

    # Each download: its decision's one query; the count waits in this process.
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["SELECT"] * 3
    shown = owner.get(link["api_url"]).json()
    assert (shown["downloads"], shown["last_downloaded_at"] is not None) == (3, True)
    assert owner.get(image["expiring_links"]).json()["results"][0]["downloads"] == 3
    assert stored_link(link).downloads == 0


def test_without_redis_the_process_writes_its_counts_when_due_and_at_exit(
    no_cache: None, settings: Any, owner: APIClient, anonymous: APIClient, image: dict[str, Any]
) -> None:
    from pixtier.links.apps import _flush_at_exit

    first, second = share(owner, image), share(owner, image)
    settings.PIXTIER_LINK_DOWNLOADS_LOCAL_SECONDS = 0  # due at once
    assert anonymous.get(first["url"]).status_code == 200
    assert stored_link(first).downloads == 1

    settings.PIXTIER_LINK_DOWNLOADS_LOCAL_SECONDS = 3600
    for _ in range(2):
        assert anonymous.get(second["url"]).status_code == 200
    assert stored_link(second).downloads == 0
    _flush_at_exit()  # what the process runs as it ends (atexit)

    assert [stored_link(link).downloads for link in (first, second)] == [1, 2]
    assert owner.get(second["api_url"]).json()["downloads"] == 2  # not counted twice
