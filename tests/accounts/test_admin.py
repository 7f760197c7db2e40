"""django-admin for tiers, users, images and expiring links, driven through HTTP as staff."""

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image as PILImage

from pixtier.accounts.models import MAX_THUMBNAIL_HEIGHT, ThumbnailSize, Tier, User
from pixtier.accounts.selectors import tier_capabilities
from pixtier.images.models import Image
from pixtier.images.services import image_upload
from pixtier.images.thumbnails import thumbnails_generate
from pixtier.links.models import ExpiringLink
from pixtier.links.services import expiring_link_create
from pixtier.links.signing import link_token
from tests.helpers import jpeg_bytes, stored_files

Capture = Callable[..., AbstractContextManager[Any]]


def make_image(owner: User, *, title: str = "Lake", data: bytes | None = None) -> Image:
    file = SimpleUploadedFile("lake.jpg", data or jpeg_bytes(640, 480), content_type="image/jpeg")
    return image_upload(owner=owner, file=file, title=title)


def make_link(image: Image, height: int | None = None) -> ExpiringLink:
    capabilities = tier_capabilities(user=image.owner)
    return expiring_link_create(
        image=image, expires_in=600, height=height, capabilities=capabilities
    )


def download_url(link: ExpiringLink) -> str:
    token = link_token(link_id=link.pk, expires_at=int(link.expires_at.timestamp()))
    return reverse("expiring-link-download", kwargs={"token": token})


def tier_form(
    name: str, heights: list[int], *, tier: Tier | None = None, **flags: str
) -> dict[str, Any]:
    """The POST body of the tier add/change form, inline formset management form included.

    On the change form, the tier's current sizes come first (in height order) and are
    replaced by ``heights`` position by position; extra heights become new rows.
    """
    existing = list(tier.sizes.order_by("height")) if tier else []
    data = {
        "name": name,
        **flags,
        "sizes-TOTAL_FORMS": str(max(len(heights), len(existing))),
        "sizes-INITIAL_FORMS": str(len(existing)),
        "sizes-MIN_NUM_FORMS": "0",
        "sizes-MAX_NUM_FORMS": "1000",
    }
    for i, height in enumerate(heights):
        data[f"sizes-{i}-height"] = str(height)
        if tier is not None:
            data[f"sizes-{i}-tier"] = str(tier.pk)
        if i < len(existing):
            data[f"sizes-{i}-id"] = str(existing[i].pk)
    return data


def changelist(model: type[Any]) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change_page(obj: Any) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


@pytest.fixture
def image(enterprise_user: User) -> Image:
    return make_image(enterprise_user)


@pytest.fixture
def link(image: Image) -> ExpiringLink:
    return make_link(image)


# Pages


def test_every_changelist_and_change_page_loads(
    admin_client: Client, image: Image, link: ExpiringLink
) -> None:
    tier = Tier.objects.get(name="Enterprise")
    for obj in (tier, image.owner, image, link):
        assert admin_client.get(changelist(type(obj))).status_code == 200
        assert admin_client.get(change_page(obj)).status_code == 200
    assert admin_client.get(reverse("admin:accounts_tier_add")).status_code == 200
    assert admin_client.get(reverse("admin:accounts_user_add")).status_code == 200


def test_the_tier_list_summarises_what_each_tier_offers(
    admin_client: Client, make_user: Callable[..., User]
) -> None:
    make_user("Premium")
    make_user("Premium")
    page = admin_client.get(changelist(Tier)).content.decode()
    assert "200 px" in page  # Basic
    assert "200, 400 px · original ·" in page  # Premium
    assert "200, 400 px · original · links" in page  # Enterprise
    premium = Tier.objects.get(name="Premium")
    assert f'?tier__id__exact={premium.pk}">2</a>' in page


def test_images_and_links_cannot_be_added_or_edited_in_the_admin(
    admin_client: Client, image: Image, link: ExpiringLink
) -> None:
    assert admin_client.get(reverse("admin:images_image_add")).status_code == 403
    assert admin_client.get(reverse("admin:links_expiringlink_add")).status_code == 403
    response = admin_client.post(change_page(image), {"title": "Renamed"})
    assert response.status_code == 403
    image.refresh_from_db()
    assert image.title == "Lake"


# Tiers


def test_it_creates_a_tier_with_heights_through_the_add_form(admin_client: Client) -> None:
    data = tier_form("Studio", [300, 150, 600], original_link="on")
    response = admin_client.post(reverse("admin:accounts_tier_add"), data)
    assert response.status_code == 302, response.content
    tier = Tier.objects.get(name="Studio")
    assert list(tier.sizes.values_list("height", flat=True)) == [150, 300, 600]
    assert tier.original_link
    assert not tier.expiring_links


def test_a_tier_name_differing_only_in_case_is_refused(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:accounts_tier_add"), tier_form("basic", [200]))

    assert response.status_code == 200
    assert "name (ignoring case) already exists" in response.content.decode()
    assert not Tier.objects.filter(name="basic").exists()


@pytest.mark.parametrize(
    ("heights", "error"),
    [
        ([200, 400, 200], "200 px is listed more than once"),
        ([0], "Ensure this value is greater than or equal to 1."),
        ([-5], "Ensure this value is greater than or equal to 1."),
        (
            [MAX_THUMBNAIL_HEIGHT + 1],
            f"Ensure this value is less than or equal to {MAX_THUMBNAIL_HEIGHT}.",
        ),
    ],
)
def test_it_refuses_bad_heights_on_the_add_form(
    admin_client: Client, heights: list[int], error: str
) -> None:
    response = admin_client.post(reverse("admin:accounts_tier_add"), tier_form("Studio", heights))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Tier.objects.filter(name="Studio").exists()
    assert not ThumbnailSize.objects.filter(tier__name="Studio").exists()


def test_it_refuses_a_height_the_tier_already_has_on_the_change_form(
    admin_client: Client,
) -> None:
    basic = Tier.objects.get(name="Basic")
    response = admin_client.post(change_page(basic), tier_form("Basic", [200, 200], tier=basic))
    assert response.status_code == 200
    assert "200 px is listed more than once" in response.content.decode()
    assert list(basic.sizes.values_list("height", flat=True)) == [200]


def test_swapping_two_heights_is_refused_with_a_form_error_not_a_crash(
    admin_client: Client,
) -> None:
    premium = Tier.objects.get(name="Premium")
    # 200 -> 400 and 400 -> 200 would collide row by row while saving.
    data = tier_form("Premium", [400, 200], tier=premium, original_link="on")
    response = admin_client.post(change_page(premium), data)
    assert response.status_code == 302, response.content
    assert sorted(premium.sizes.values_list("height", flat=True)) == [200, 400]


def test_a_changed_height_is_made_for_existing_images(
    admin_client: Client,
    premium_user: User,
    settings: Any,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    image = make_image(premium_user)
    settings.PIXTIER_BACKGROUND = "sync"
    premium = Tier.objects.get(name="Premium")
    data = tier_form("Premium", [200, 500], tier=premium, original_link="on")
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(change_page(premium), data).status_code == 302
    assert list(premium.sizes.values_list("height", flat=True)) == [200, 500]
    assert set(image.thumbnails.values_list("height", flat=True)) >= {500}


def test_it_edits_heights_and_flags_of_a_tier(admin_client: Client, premium_user: User) -> None:
    premium = Tier.objects.get(name="Premium")
    data = tier_form("Premium", [250, 400, 800], tier=premium, expiring_links="on")
    data["sizes-0-DELETE"] = "on"  # 200 goes; 250 in that row is ignored
    response = admin_client.post(change_page(premium), data)
    assert response.status_code == 302, response.content
    assert list(premium.sizes.values_list("height", flat=True)) == [400, 800]
    capabilities = tier_capabilities(user=premium_user)
    assert capabilities.heights == (400, 800)
    assert (capabilities.original_link, capabilities.expiring_links) == (False, True)


def test_deleting_a_tier_with_users_shows_who_still_uses_it(
    admin_client: Client, premium_user: User
) -> None:
    premium = Tier.objects.get(name="Premium")
    delete_url = reverse("admin:accounts_tier_delete", args=[premium.pk])
    page = admin_client.get(delete_url)
    assert page.status_code == 200
    assert "would require deleting the following protected related objects" in page.content.decode()
    assert premium_user.username in page.content.decode()
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 200
    bulk = admin_client.post(
        changelist(Tier),
        {"action": "delete_selected", "_selected_action": [premium.pk], "post": "yes"},
    )
    assert bulk.status_code == 200
    assert "protected" in bulk.content.decode()
    assert Tier.objects.filter(pk=premium.pk).exists()


def test_a_tier_without_users_can_be_deleted(admin_client: Client, custom_tier: Tier) -> None:
    delete_url = reverse("admin:accounts_tier_delete", args=[custom_tier.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not Tier.objects.filter(pk=custom_tier.pk).exists()
    assert not ThumbnailSize.objects.filter(tier_id=custom_tier.pk).exists()


# Users


def test_the_add_form_creates_a_user_in_the_chosen_tier(admin_client: Client) -> None:
    premium = Tier.objects.get(name="Premium")
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "tier": str(premium.pk),
            "usable_password": "true",
            "password1": "a long and unusual passphrase",
            "password2": "a long and unusual passphrase",
        },
    )
    assert response.status_code == 302, response.content
    user = User.objects.get(username="newbie")
    assert user.tier == premium
    assert user.email == "newbie@example.com"
    assert user.check_password("a long and unusual passphrase")


def test_the_add_form_offers_the_default_tier(admin_client: Client) -> None:
    basic = Tier.objects.get(name="Basic")
    page = admin_client.get(reverse("admin:accounts_user_add")).content.decode()
    assert f'<option value="{basic.pk}" selected>Basic</option>' in page


def test_the_change_form_moves_a_user_to_another_tier(
    admin_client: Client, basic_user: User
) -> None:
    enterprise = Tier.objects.get(name="Enterprise")
    page = admin_client.get(change_page(basic_user))
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        tier=str(enterprise.pk),
        date_joined_0=basic_user.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=basic_user.date_joined.strftime("%H:%M:%S"),
        groups=[],
        user_permissions=[],
    )
    response = admin_client.post(change_page(basic_user), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    basic_user.refresh_from_db()
    assert basic_user.tier == enterprise


def test_the_user_list_filters_by_tier_and_searches_by_email(
    admin_client: Client, make_user: Callable[..., User]
) -> None:
    make_user("Premium", username="alice", email="alice@example.com")
    make_user("Basic", username="bob", email="bob@example.org")
    premium = Tier.objects.get(name="Premium")
    by_tier = admin_client.get(changelist(User), {"tier__id__exact": premium.pk})
    assert [u.username for u in by_tier.context["cl"].result_list] == ["alice"]
    by_email = admin_client.get(changelist(User), {"q": "example.org"})
    assert [u.username for u in by_email.context["cl"].result_list] == ["bob"]


def test_the_bulk_action_moves_selected_users_to_a_tier(
    admin_client: Client, make_user: Callable[..., User]
) -> None:
    movers = [make_user("Basic"), make_user("Premium")]
    stayer = make_user("Basic")
    enterprise = Tier.objects.get(name="Enterprise")
    page = admin_client.get(changelist(User)).content.decode()
    assert "Move selected users to tier “Enterprise”" in page
    response = admin_client.post(
        changelist(User),
        {
            "action": f"move_to_tier_{enterprise.pk}",
            "_selected_action": [str(u.pk) for u in movers],
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Moved 2 user(s) to tier “Enterprise”." in response.content.decode()
    for user in movers:
        user.refresh_from_db()
        assert user.tier == enterprise
        assert tier_capabilities(user=user).expiring_links
    stayer.refresh_from_db()
    assert stayer.tier.name == "Basic"
    assert LogEntry.objects.filter(object_id=str(movers[0].pk)).exists()


def test_a_tier_name_with_a_percent_sign_does_not_break_the_actions(
    admin_client: Client, basic_user: User
) -> None:
    tier = Tier.objects.create(name="100% originals", original_link=True)
    page = admin_client.get(changelist(User))
    assert page.status_code == 200
    assert "Move selected users to tier “100% originals”" in page.content.decode()
    admin_client.post(
        changelist(User),
        {"action": f"move_to_tier_{tier.pk}", "_selected_action": [str(basic_user.pk)]},
    )
    basic_user.refresh_from_db()
    assert basic_user.tier == tier


def test_deleting_a_user_removes_their_image_files(
    admin_client: Client,
    image: Image,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    assert stored_files()
    delete_url = reverse("admin:accounts_user_delete", args=[image.owner.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=image.owner.pk).exists()
    assert stored_files() == []


# Images


def test_the_preview_is_the_smallest_thumbnail_of_the_owners_tier(
    admin_client: Client, premium_user: User
) -> None:
    image = make_image(premium_user)
    page = admin_client.get(changelist(Image)).content.decode()
    preview_url = reverse("admin:images_image_preview", args=[image.pk])
    assert f'<img src="{preview_url}"' in page
    assert "max-height: 80px" in page
    response = admin_client.get(preview_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "private" in response["Cache-Control"]
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert PILImage.open(io.BytesIO(body)).size == (267, 200)
    again = admin_client.get(preview_url, headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304


def test_the_preview_is_the_original_when_the_tier_has_no_heights(
    admin_client: Client, make_user: Callable[..., User]
) -> None:
    Tier.objects.create(name="Originals only", original_link=True)
    data = jpeg_bytes(320, 240)
    image = make_image(make_user("Originals only"), data=data)
    response = admin_client.get(reverse("admin:images_image_preview", args=[image.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data  # type: ignore[attr-defined]


def test_the_preview_is_for_staff_only(
    client: Client, image: Image, make_user: Callable[..., User]
) -> None:
    preview_url = reverse("admin:images_image_preview", args=[image.pk])
    anonymous = client.get(preview_url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("admin:login"))
    client.force_login(image.owner)  # even the owner: owner links are the API's business
    owner = client.get(preview_url)
    assert owner.status_code == 302
    assert owner["Location"].startswith(reverse("admin:login"))


def test_the_change_page_lists_the_owner_links(admin_client: Client, image: Image) -> None:
    page = admin_client.get(change_page(image)).content.decode()
    assert reverse("image-original", kwargs={"image_id": image.pk}) in page
    for height in (200, 400):
        assert reverse("image-thumbnail", kwargs={"image_id": image.pk, "height": height}) in page


def test_the_change_page_says_when_the_tier_has_no_original(
    admin_client: Client, basic_user: User
) -> None:
    image = make_image(basic_user)
    page = admin_client.get(change_page(image)).content.decode()
    assert "not in the Basic tier" in page
    assert reverse("image-original", kwargs={"image_id": image.pk}) not in page


def test_the_image_list_searches_by_title_and_owner(
    admin_client: Client, basic_user: User, premium_user: User
) -> None:
    make_image(basic_user, title="Harbour")
    make_image(premium_user, title="Glacier")
    by_title = admin_client.get(changelist(Image), {"q": "harb"})
    assert [i.title for i in by_title.context["cl"].result_list] == ["Harbour"]
    by_owner = admin_client.get(changelist(Image), {"q": "premium"})
    assert [i.title for i in by_owner.context["cl"].result_list] == ["Glacier"]


def test_deleting_an_image_removes_its_files(
    admin_client: Client,
    image: Image,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    thumbnails_generate(image=image, heights=[200, 400])
    assert len(stored_files()) == 3
    delete_url = reverse("admin:images_image_delete", args=[image.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not Image.objects.filter(pk=image.pk).exists()
    assert stored_files() == []


def test_bulk_deleting_images_removes_their_files(
    admin_client: Client,
    enterprise_user: User,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    doomed = [make_image(enterprise_user, title=f"doomed {i}") for i in range(2)]
    kept = make_image(enterprise_user, title="kept")
    kept_files = [f for f in stored_files() if kept.pk.hex in f]
    assert len(kept_files) == 3  # the original and the tier's two thumbnails
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            changelist(Image),
            {
                "action": "delete_selected",
                "_selected_action": [str(i.pk) for i in doomed],
                "post": "yes",
            },
        )
    assert response.status_code == 302
    assert list(Image.objects.values_list("title", flat=True)) == ["kept"]
    assert stored_files() == kept_files


# Expiring links


def test_the_revoke_action_kills_the_public_link_at_once(
    admin_client: Client, client: Client, link: ExpiringLink
) -> None:
    other = make_link(link.image, height=200)
    assert client.get(download_url(link)).status_code == 200
    response = admin_client.post(
        changelist(ExpiringLink),
        {"action": "revoke", "_selected_action": [str(link.pk)]},
        follow=True,
    )
    assert "Revoked 1 link(s)." in response.content.decode()
    assert client.get(download_url(link)).status_code == 410
    assert client.get(download_url(other)).status_code == 200
    link.refresh_from_db()
    assert link.status() == "revoked"


def test_the_link_list_shows_and_filters_by_status(
    admin_client: Client, image: Image, time_machine: Any
) -> None:
    expired = make_link(image)
    time_machine.move_to(expired.expires_at, tick=False)
    valid = make_link(image)
    revoked = make_link(image)
    admin_client.post(
        changelist(ExpiringLink), {"action": "revoke", "_selected_action": [str(revoked.pk)]}
    )
    page = admin_client.get(changelist(ExpiringLink)).content.decode()
    for status in ("valid", "expired", "revoked"):
        assert f'<td class="field-status">{status}</td>' in page
        filtered = admin_client.get(changelist(ExpiringLink), {"status": status})
        assert [link.status() for link in filtered.context["cl"].result_list] == [status]
    by_image = admin_client.get(changelist(ExpiringLink), {"image__id__exact": str(image.pk)})
    assert {link.pk for link in by_image.context["cl"].result_list} == {
        expired.pk,
        valid.pk,
        revoked.pk,
    }


# Query counts


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def _rows(kind: str, user: User, n: int) -> Iterator[Any]:
    for i in range(n):
        if kind == "tier":
            tier = Tier.objects.create(name=f"Tier {user.pk}-{i}", original_link=True)
            ThumbnailSize.objects.create(tier=tier, height=100 + i)
            User.objects.create_user(username=f"t{user.pk}-{i}", tier=tier)
            yield tier
        elif kind == "user":
            yield User.objects.create_user(username=f"u{user.pk}-{i}", tier=user.tier)
        else:
            image = make_image(user, title=f"img {i}", data=jpeg_bytes(32, 24))
            yield make_link(image) if kind == "link" else image


@pytest.mark.parametrize(
    ("kind", "model"),
    [("tier", Tier), ("user", User), ("image", Image), ("link", ExpiringLink)],
)
def test_changelist_queries_do_not_grow_with_the_rows(
    admin_client: Client,
    make_user: Callable[..., User],
    django_assert_max_num_queries: Capture,
    kind: str,
    model: type[Any],
) -> None:
    first, second = make_user("Enterprise"), make_user("Enterprise")
    list(_rows(kind, first, 2))
    baseline = _queries(admin_client, changelist(model))
    list(_rows(kind, second, 12))
    assert model.objects.count() >= 14
    with django_assert_max_num_queries(baseline):
        admin_client.get(changelist(model))


# Quotas (SPEC 11)


def test_it_edits_a_tiers_quotas_and_summarises_them(admin_client: Client) -> None:
    basic = Tier.objects.get(name="Basic")
    data = tier_form("Basic", [200], tier=basic)
    data |= {"max_images": "50", "max_storage_bytes": "104857600", "max_upload_bytes": "5242880"}

    response = admin_client.post(change_page(basic), data)

    assert response.status_code == 302, response.content
    basic.refresh_from_db()
    assert (basic.max_images, basic.max_storage_bytes, basic.max_upload_bytes) == (
        50,
        100 * 1024 * 1024,
        5 * 1024 * 1024,
    )
    page = admin_client.get(changelist(Tier)).content.decode()
    assert "200 px · ≤ 50 images · ≤ 100.0 MiB stored · ≤ 5.0 MiB per upload" in page
    assert tier_capabilities(user=User(tier=basic)).max_images == 50


def test_it_refuses_a_tier_upload_limit_above_the_global_one(
    admin_client: Client, settings: Any
) -> None:
    basic = Tier.objects.get(name="Basic")
    data = tier_form("Basic", [200], tier=basic)
    data["max_upload_bytes"] = str(settings.PIXTIER_MAX_UPLOAD_BYTES + 1)

    response = admin_client.post(change_page(basic), data)

    assert response.status_code == 200
    assert "At most the global upload limit" in response.content.decode()
    basic.refresh_from_db()
    assert basic.max_upload_bytes is None


def test_empty_quota_fields_mean_unlimited(admin_client: Client) -> None:
    basic = Tier.objects.get(name="Basic")
    basic.max_images = 3
    basic.save()
    data = tier_form("Basic", [200], tier=basic)
    data |= {"max_images": "", "max_storage_bytes": "", "max_upload_bytes": ""}

    assert admin_client.post(change_page(basic), data).status_code == 302
    basic.refresh_from_db()
    assert basic.max_images is None


def test_the_link_list_shows_downloads_out_of_the_limit_and_used_up_links(
    admin_client: Client, client: Client, image: Image
) -> None:
    capabilities = tier_capabilities(user=image.owner)
    limited = expiring_link_create(
        image=image, expires_in=600, height=None, capabilities=capabilities, max_downloads=2
    )
    used = expiring_link_create(
        image=image, expires_in=600, height=None, capabilities=capabilities, max_downloads=1
    )
    unlimited = make_link(image)
    for link in (limited, used, unlimited, unlimited):
        assert client.get(download_url(link)).status_code == 200

    page = admin_client.get(changelist(ExpiringLink)).content.decode()

    assert '<td class="field-download_count">1 of 2</td>' in page
    assert '<td class="field-download_count">1 of 1</td>' in page
    assert '<td class="field-download_count">2</td>' in page
    used_up = admin_client.get(changelist(ExpiringLink), {"status": "used up"})
    assert [link.pk for link in used_up.context["cl"].result_list] == [used.pk]
    valid = admin_client.get(changelist(ExpiringLink), {"status": "valid"})
    assert {link.pk for link in valid.context["cl"].result_list} == {limited.pk, unlimited.pk}
    detail = admin_client.get(change_page(used)).content.decode()
    assert "used up" in detail
