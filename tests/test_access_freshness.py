"""SPEC §8: every change that takes access away denies the very next request, with or
without a cache, whichever way it is made (the admin's own HTTP views, the API, the shell).

The table: each change x {no cache, warm Redis cache} x {owner thumbnail, owner original,
expiring link to a thumbnail, expiring link to the original} → the status of the next
request. The Redis cache is warmed by real requests first (and shown warm: the last of
them asked the database nothing); the change commits (its after-commit work runs) before
the next request is made.
"""

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import pytest
from django import forms
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from pixtier.accounts.authentication import access_token_issue
from pixtier.accounts.models import ThumbnailSize, Tier, User
from pixtier.accounts.services import user_deactivate, user_tier_set
from pixtier.images.models import Image
from pixtier.images.thumbnails import thumbnails_generate_for_image
from pixtier.links.models import ExpiringLink
from pixtier.links.services import expiring_link_revoke
from tests.helpers import jpeg_bytes

TARGETS = ("owner thumbnail", "owner original", "link to thumbnail", "link to original")


@dataclass
class World:
    owner: User
    owner_client: APIClient  # a real JWT bearer, as API clients send it
    anonymous: APIClient
    admin: Client  # a signed-in superuser, through the admin's own views
    image_id: str
    links: dict[str, dict[str, Any]]  # "thumbnail" / "original" -> the link's representation
    urls: dict[str, str]


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _get(world: World, target: str) -> Any:
    client = world.owner_client if target.startswith("owner") else world.anonymous
    return client.get(world.urls[target])


@pytest.fixture
def world(
    make_user: Callable[..., User],
    uploaded: Callable[..., dict[str, Any]],
    client_for: Callable[[User | None], APIClient],
) -> World:
    owner = make_user("Enterprise", username="owner")
    image = uploaded(owner, jpeg_bytes(800, 600))
    thumbnails_generate_for_image(image_id=image["id"])  # as the background job would
    creator = client_for(owner)
    links = {}
    for name, height in (("thumbnail", 400), ("original", None)):
        body = {"expires_in": 30000, **({"height": height} if height else {})}
        response = creator.post(f"{image['url']}expiring-links/", body, format="json")
        assert response.status_code == 201, response.content
        links[name] = response.json()
    owner_client = APIClient()
    owner_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_issue(user=owner)}")
    admin = Client()
    superuser = User.objects.create_superuser("root", "root@example.com", "pw-root-123")
    # django-axes would record this sign-in with no client address, which PostgreSQL's
    # inet column refuses (force_login's request has none).
    with override_settings(AXES_ENABLED=False):
        admin.force_login(superuser)
    urls = {
        "owner thumbnail": f"{image['url']}thumbnails/400/",
        "owner original": f"{image['url']}original/",
        "link to thumbnail": links["thumbnail"]["url"],
        "link to original": links["original"]["url"],
    }
    return World(owner, owner_client, APIClient(), admin, image["id"], links, urls)


# --- The admin's own HTTP views -------------------------------------------------------


def _field_data(bound: forms.BoundField) -> dict[str, Any]:
    """What a browser would post for a field left as the form shows it."""
    widget, value = bound.field.widget, bound.value()
    if bound.field.disabled:
        return {}
    if isinstance(widget, forms.MultiWidget):
        parts = widget.decompress(value) or []
        return {f"{bound.html_name}_{i}": "" if p is None else str(p) for i, p in enumerate(parts)}
    if isinstance(widget, forms.CheckboxInput):
        return {bound.html_name: "on"} if value else {}
    if value is None:
        return {bound.html_name: ""}
    if isinstance(value, list | tuple):
        return {bound.html_name: [str(v) for v in value]}
    return {bound.html_name: str(value)}


def change_form_data(admin: Client, url: str) -> dict[str, Any]:
    """The admin change form at ``url`` (inlines included), as a browser would post it."""
    page = admin.get(url)
    assert page.status_code == 200
    data: dict[str, Any] = {"_save": "Save"}
    form = page.context["adminform"].form
    for name in form.fields:
        data.update(_field_data(form[name]))
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[formset.management_form.add_prefix(name)] = formset.management_form[name].value()
        for each in formset.forms:
            for name in each.fields:
                data.update(_field_data(each[name]))
    return data


def admin_post(admin: Client, url: str, data: dict[str, Any]) -> None:
    response = admin.post(url, data)
    assert response.status_code == 302, response.content[:2000]


def user_form(world: World, **changes: Any) -> None:
    url = f"/admin/accounts/user/{world.owner.pk}/change/"
    data = change_form_data(world.admin, url)
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    admin_post(world.admin, url, data)


def tier_form(world: World, *, edit: Callable[[dict[str, Any]], None]) -> None:
    url = f"/admin/accounts/tier/{world.owner.tier_id}/change/"
    data = change_form_data(world.admin, url)
    edit(data)
    admin_post(world.admin, url, data)


def _inline_with_height(data: dict[str, Any], height: int) -> str:
    return next(
        k.rsplit("-", 1)[0] for k, v in data.items() if k.endswith("-height") and v == str(height)
    )


def tier_id(name: str) -> int:
    return Tier.objects.get(name=name).pk


# --- The changes ------------------------------------------------------------------------


def move_by_change_form(world: World) -> None:
    user_form(world, tier=str(tier_id("Basic")))


def move_by_bulk_action(world: World) -> None:
    data = {"action": f"move_to_tier_{tier_id('Basic')}", "_selected_action": [world.owner.pk]}
    admin_post(world.admin, "/admin/accounts/user/", {**data, "index": "0"})


def move_to_premium_by_bulk_action(world: World) -> None:
    data = {"action": f"move_to_tier_{tier_id('Premium')}", "_selected_action": [world.owner.pk]}
    admin_post(world.admin, "/admin/accounts/user/", {**data, "index": "0"})


def move_by_service(world: World) -> None:
    user_tier_set(users=User.objects.filter(pk=world.owner.pk), tier=Tier.objects.get(name="Basic"))


def move_by_queryset_update(world: World) -> None:
    User.objects.filter(pk=world.owner.pk).update(tier=Tier.objects.get(name="Basic"))


def move_by_save(world: World) -> None:
    user = User.objects.get(pk=world.owner.pk)
    user.tier = Tier.objects.get(name="Basic")
    user.save()


def original_off_by_tier_form(world: World) -> None:
    tier_form(world, edit=lambda data: data.pop("original_link"))


def links_off_by_tier_form(world: World) -> None:
    tier_form(world, edit=lambda data: data.pop("expiring_links"))


def links_off_by_queryset_update(world: World) -> None:
    Tier.objects.filter(pk=world.owner.tier_id).update(expiring_links=False)


def height_removed_by_inline(world: World) -> None:
    def edit(data: dict[str, Any]) -> None:
        data[f"{_inline_with_height(data, 400)}-DELETE"] = "on"

    tier_form(world, edit=edit)


def height_changed_by_inline(world: World) -> None:
    def edit(data: dict[str, Any]) -> None:
        data[f"{_inline_with_height(data, 400)}-height"] = "500"

    tier_form(world, edit=edit)


def height_removed_and_pruned_in_shell(world: World) -> None:
    ThumbnailSize.objects.filter(tier_id=world.owner.tier_id, height=400).delete()
    call_command("prune_thumbnails", stdout=io.StringIO())


def deactivated_by_change_form(world: World) -> None:
    user_form(world, is_active=None)


def deactivated_by_service(world: World) -> None:
    user_deactivate(user=User.objects.get(pk=world.owner.pk))


def deactivated_by_queryset_update(world: World) -> None:
    User.objects.filter(pk=world.owner.pk).update(is_active=False)


def user_deleted_by_admin(world: World) -> None:
    admin_post(world.admin, f"/admin/accounts/user/{world.owner.pk}/delete/", {"post": "yes"})


def user_deleted_in_shell(world: World) -> None:
    User.objects.filter(pk=world.owner.pk).delete()


def links_revoked_by_api(world: World) -> None:
    creator = APIClient()
    creator.force_authenticate(world.owner)
    for link in world.links.values():
        assert creator.delete(link["api_url"]).status_code == 204


def links_revoked_by_admin_action(world: World) -> None:
    ids = [link["id"] for link in world.links.values()]
    data = {"action": "revoke", "_selected_action": ids, "index": "0"}
    admin_post(world.admin, "/admin/links/expiringlink/", data)


def links_revoked_by_service(world: World) -> None:
    for link in ExpiringLink.objects.filter(image_id=world.image_id):
        expiring_link_revoke(link=link)


def image_deleted_by_api(world: World) -> None:
    creator = APIClient()
    creator.force_authenticate(world.owner)
    assert creator.delete(f"/api/v1/images/{world.image_id}/").status_code == 204


def image_deleted_by_admin(world: World) -> None:
    url = f"/admin/images/image/{world.image_id}/delete/"
    admin_post(world.admin, url, {"post": "yes"})


def image_deleted_in_shell(world: World) -> None:
    Image.objects.filter(pk=world.image_id).delete()


# change -> the next request's status per target (owner thumbnail, owner original, link to
# the 400 px thumbnail, link to the original). 200: the change does not touch that target.
TABLE: dict[Callable[[World], None], tuple[int, int, int, int]] = {
    move_by_change_form: (403, 403, 403, 403),
    move_by_bulk_action: (403, 403, 403, 403),
    move_to_premium_by_bulk_action: (200, 200, 403, 403),
    move_by_service: (403, 403, 403, 403),
    move_by_queryset_update: (403, 403, 403, 403),
    move_by_save: (403, 403, 403, 403),
    original_off_by_tier_form: (200, 403, 200, 403),
    links_off_by_tier_form: (200, 200, 403, 403),
    links_off_by_queryset_update: (200, 200, 403, 403),
    height_removed_by_inline: (403, 200, 403, 200),
    height_changed_by_inline: (403, 200, 403, 200),
    height_removed_and_pruned_in_shell: (403, 200, 403, 200),
    deactivated_by_change_form: (401, 401, 410, 410),
    deactivated_by_service: (401, 401, 410, 410),
    deactivated_by_queryset_update: (401, 401, 410, 410),
    user_deleted_by_admin: (401, 401, 410, 410),
    user_deleted_in_shell: (401, 401, 410, 410),
    links_revoked_by_api: (200, 200, 410, 410),
    links_revoked_by_admin_action: (200, 200, 410, 410),
    links_revoked_by_service: (200, 200, 410, 410),
    image_deleted_by_api: (404, 404, 410, 410),
    image_deleted_by_admin: (404, 404, 410, 410),
    image_deleted_in_shell: (404, 404, 410, 410),
}


@pytest.fixture(params=["no cache", "warm Redis cache"])
def cache_mode(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("no_cache" if request.param == "no cache" else "redis_cache")
    mode: str = request.param
    return mode


def _warm(world: World, target: str, cache_mode: str) -> None:
    """Real requests until the answer is cached (shown by a request that asks the
    database nothing); without a cache, one request."""
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            response = _get(world, target)
        assert response.status_code == 200, _body(response)[:300]
        _body(response)
        if cache_mode == "no cache" or len(queries) == 0:
            break
    if cache_mode != "no cache":
        assert len(queries) == 0, [q["sql"] for q in queries.captured_queries]


@pytest.mark.parametrize("change", TABLE, ids=[change.__name__ for change in TABLE])
def test_the_next_request_after_a_change_is_decided_afresh(
    change: Callable[[World], None],
    cache_mode: str,
    world: World,
    django_capture_on_commit_callbacks: Any,
) -> None:
    for target in TARGETS:
        _warm(world, target, cache_mode)

    with django_capture_on_commit_callbacks(execute=True):
        change(world)

    statuses = tuple(_get(world, target).status_code for target in TARGETS)
    assert statuses == TABLE[change], dict(zip(TARGETS, statuses, strict=True))
    for target, status in zip(TARGETS, statuses, strict=True):
        if status != 200:
            response = _get(world, target)
            assert response["Content-Type"] == "application/json", target
            assert "detail" in response.json(), target


# --- What a decision costs, and the read-before-commit window -------------------------


def _queries(world: World, target: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = _get(world, target)
    assert response.status_code == 200
    _body(response)
    return len(queries)


@pytest.mark.parametrize("target", TARGETS)
def test_a_download_asks_the_database_once_cold_and_never_warm(
    redis_cache: None, world: World, target: str
) -> None:
    cold = [_queries(world, target) for _ in range(2)]  # a link learns its owner first
    warm = [_queries(world, target) for _ in range(3)]

    assert max(cold) <= 1
    assert warm == [0, 0, 0]


@pytest.mark.parametrize("target", TARGETS)
def test_without_redis_a_download_asks_the_database_once(
    no_cache: None, world: World, target: str
) -> None:
    # A link's download is counted in the process meanwhile (pixtier.links.counting).
    assert [_queries(world, target) for _ in range(3)] == [1] * 3


def test_the_cache_holds_none_of_the_owners_secrets(redis_cache: None, world: World) -> None:
    for target in TARGETS:
        _warm(world, target, "warm Redis cache")
    from django.core.cache import cache

    client = cache._cache.get_client()  # type: ignore[attr-defined]
    stored = b"".join(client.hget(key, "d") or b"" for key in client.keys("pixtier:access:e:*"))

    assert stored
    assert world.owner.password.encode() not in stored
    for secret in (b"owner@", b"pbkdf2", b"md5$"):
        assert secret not in stored


def test_a_read_made_before_a_change_committed_is_never_trusted_after_it(
    redis_cache: None, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    """A request that read the database just before a revocation committed stores what
    it read after the revocation's cache work: its stamp is already outdated."""
    from django.db import transaction

    from pixtier.common import freshness

    before = freshness.lookup("probe", owner_id=world.owner.pk)
    assert before.stamp is not None  # cacheable: read the database now
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        freshness.access_revoked(owner_ids=[world.owner.pk])
        during = freshness.lookup("probe", owner_id=world.owner.pk)
    freshness.store("probe", "old answer", before.stamp, owner_id=world.owner.pk, timeout=60)

    assert during.stamp is None  # while the change is in flight nobody stores
    assert freshness.lookup("probe", owner_id=world.owner.pk).value is None


def test_a_change_that_never_says_it_ended_keeps_readers_off_the_cache(
    redis_cache: None, world: World
) -> None:
    """Its busy mark outlives it (for WRITE_SECONDS): no answer read meanwhile is stored."""
    from django.db import transaction

    from pixtier.common import freshness

    with transaction.atomic():
        freshness.access_revoked(owner_ids=[world.owner.pk])
    # (the test's own transaction never commits: the after-commit work never runs)
    found = freshness.lookup("probe", owner_id=world.owner.pk)

    assert found == freshness.MISS
    assert _queries(world, "owner thumbnail") == 1
    assert _queries(world, "owner thumbnail") == 1


@pytest.mark.parametrize("cache_mode", ["no cache", "warm Redis cache"], indirect=True)
def test_a_token_checked_before_is_refused_once_it_expires(
    cache_mode: str, world: World, time_machine: Any
) -> None:
    """The download path checks a token's signature once per process (its bytes cannot
    change), and its expiry on every request."""
    time_machine.move_to(timezone.now(), tick=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_issue(user=world.owner)}")
    url = world.urls["owner thumbnail"]
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200

    lifetime = cast(timedelta, settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"])
    time_machine.shift(lifetime.total_seconds() + 1)

    assert client.get(url).status_code == 401
