"""A person with a mouse: an admin shapes a tier, a user drives the browsable API."""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from pixtier.accounts.models import Tier, User
from pixtier.accounts.selectors import tier_capabilities
from pixtier.images.services import image_upload
from pixtier.links.services import expiring_link_create
from tests.helpers import jpeg_bytes

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "a-long-browser-password"


def _sign_in_admin(page: Any, base: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")


def _sign_in_api(page: Any, base: str, next_path: str) -> None:
    page.goto(f"{base}/api/v1/auth/login/?next={next_path}")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit], form input[type=submit]")
    page.wait_for_url(f"{base}{next_path}")


def _set_tier(page: Any, base: str, user: User, tier: str) -> None:
    page.goto(f"{base}/admin/accounts/user/{user.pk}/change/")
    page.select_option("select[name=tier]", label=tier)
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")


def _post_html_form(page: Any, field: str) -> None:
    """Submit the browsable API's HTML form that holds ``field``."""
    form = page.locator(f"form:has([name={field}])").last
    form.locator("button.btn-primary").click()
    page.wait_for_load_state()


def _response_json(page: Any) -> Any:
    return json.loads(page.locator(".response-info pre").inner_text().split("\n\n", 1)[1])


def test_an_admin_shapes_a_tier_and_a_user_lives_with_it(
    browser: Any,
    live_server: Any,
    tmp_path: Path,
    screenshot: Any,
    tier: Callable[[str], Tier],  # the built-in tiers, whatever ran before
) -> None:
    base = live_server.url
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    alice = User.objects.create_user("alice", password=PASSWORD)
    photo = tmp_path / "fjord.jpg"
    photo.write_bytes(jpeg_bytes(1600, 1200))

    admin = browser.new_context().new_page()
    _sign_in_admin(admin, base)

    # The admin creates "Pro": 150/300/600 px, original and expiring links on.
    admin.goto(f"{base}/admin/accounts/tier/add/")
    admin.fill("input[name=name]", "Pro")
    admin.check("input[name=original_link]")
    admin.check("input[name=expiring_links]")
    for row, height in enumerate(["150", "300", "600"]):
        if admin.locator(f"input[name=sizes-{row}-height]").count() == 0:
            admin.click(".add-row a")
        admin.fill(f"input[name=sizes-{row}-height]", height)
    admin.fill("input[name=max_images]", "500")
    admin.fill("input[name=max_storage_bytes]", "1073741824")
    screenshot(admin, "admin-tier-editor")
    admin.click("input[name=_save]")
    admin.wait_for_selector(".messagelist .success")
    summary = admin.locator("#result_list").inner_text()
    assert "150, 300, 600" in summary
    assert "≤ 500 images · ≤ 1.0 GiB stored" in summary

    _set_tier(admin, base, alice, "Pro")

    # Alice signs in to the browsable API and uploads through the HTML form.
    user_context = browser.new_context()
    page = user_context.new_page()
    _sign_in_api(page, base, "/api/v1/")
    screenshot(page, "api-root")
    page.goto(f"{base}/api/v1/images/")
    page.set_input_files("input[name=file]", str(photo))
    page.fill("form:has([name=file]) input[name=title]", "Fjord")
    screenshot(page, "upload-form")
    _post_html_form(page, "file")
    assert "201 Created" in page.locator(".response-info").inner_text()
    image = _response_json(page)
    assert image["title"] == "Fjord"
    assert [t["height"] for t in image["thumbnails"]] == [150, 300, 600]
    page.goto(image["url"])
    screenshot(page, "image-detail")

    # The links in the page are clickable and open the images (session auth).
    thumb_href = page.locator("a[href*='/thumbnails/600/']").first.get_attribute("href")
    response = page.goto(thumb_href)
    assert response.status == 200
    # Chromium's Accept names AVIF and WebP: the thumbnail comes in one of them (SPEC 10).
    assert response.headers["content-type"] in ("image/avif", "image/webp")
    assert page.evaluate("document.images[0].naturalHeight") == 600
    response = page.goto(image["original"])
    assert response.status == 200
    assert response.body() == photo.read_bytes()

    # An expiring link made with the HTML form opens in a fresh, signed-out browser.
    page.goto(image["expiring_links"])
    page.fill("form:has([name=expires_in]) input[name=expires_in]", "600")
    _post_html_form(page, "expires_in")
    assert "201 Created" in page.locator(".response-info").inner_text()
    link = _response_json(page)
    stranger = browser.new_context().new_page()
    response = stranger.goto(link["url"])
    assert response.status == 200
    assert response.body() == photo.read_bytes()

    # A second upload, then the list one per page: the pager's links walk it.
    page.goto(f"{base}/api/v1/images/")
    page.set_input_files("input[name=file]", str(photo))
    page.fill("form:has([name=file]) input[name=title]", "Fjord again")
    _post_html_form(page, "file")
    page.goto(f"{base}/api/v1/images/?page_size=1")
    assert [i["title"] for i in _response_json(page)["results"]] == ["Fjord again"]
    page.click("ul.pager a:has-text('Next')")
    assert [i["title"] for i in _response_json(page)["results"]] == ["Fjord"]
    page.click("ul.pager a:has-text('Previous')")
    assert [i["title"] for i in _response_json(page)["results"]] == ["Fjord again"]

    # The admin downgrades Alice; her open 600 px link now answers 403 in her browser.
    _set_tier(admin, base, alice, "Basic")
    response = page.goto(thumb_href)
    assert response.status == 403
    assert re.search(r"not in the Basic tier", page.content())

    # Logging out from the navigation bar ends the session.
    page.goto(f"{base}/api/v1/")
    page.click("a.dropdown-toggle:has-text('alice')")
    page.click("a:has-text('Log out')")
    page.wait_for_selector("a:has-text('Log in')")  # the navigation bar offers it again
    # (Asked with the browser context's cookies, outside the page's own navigation.)
    assert user_context.request.get(f"{base}/api/v1/me/").status == 401


def test_the_browsable_api_shows_the_pictures_and_the_links_that_count(
    browser: Any, live_server: Any, screenshot: Any, tier: Callable[[str], Tier]
) -> None:
    base = live_server.url
    alice = User.objects.create_user("alice", password=PASSWORD, tier=tier("Enterprise"))
    images = [
        image_upload(
            owner=alice,
            file=SimpleUploadedFile(name, jpeg_bytes(w, h), content_type="image/jpeg"),
            title=title,
        )
        for name, w, h, title in [
            ("lake.jpg", 1600, 1200, "Lake"),
            ("tower.jpg", 600, 1200, "Tower"),
            ("dunes.jpg", 1800, 900, "Dunes"),
        ]
    ]
    capabilities = tier_capabilities(user=alice)
    shared = expiring_link_create(
        image=images[-1], expires_in=3600, height=None, capabilities=capabilities, max_downloads=2
    )
    expiring_link_create(image=images[-1], expires_in=600, height=200, capabilities=capabilities)

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _sign_in_api(page, base, "/api/v1/images/")

    # Every thumbnail of every image loads in the page (owner URLs, with the session).
    pictures = page.locator("section.pixtier-pictures img")
    assert pictures.count() == 6
    page.wait_for_function(
        "[...document.querySelectorAll('.pixtier-pictures img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    sizes = pictures.evaluate_all(
        "imgs => imgs.map(i => [i.getAttribute('width'), i.getAttribute('height'),"
        " i.naturalWidth, i.naturalHeight, i.loading])"
    )
    for width, height, natural_width, natural_height, loading in sizes:
        assert (int(width), int(height)) == (natural_width, natural_height)
        assert loading == "lazy"
    screenshot(page, "image-list")

    # The detail page: the original as a link, the links with time left and counts.
    page.click("article.pixtier-picture h2 a:has-text('Dunes')")
    page.wait_for_selector(".pixtier-links")
    links = page.locator(".pixtier-links li").all_inner_texts()
    assert any(
        re.fullmatch(r"original, expires in 59 min \d+ s, 0 of 2 downloads", t) for t in links
    )
    assert any(re.fullmatch(r"200 px, expires in 9 min \d+ s, 0 downloads", t) for t in links)
    assert page.locator("a.pixtier-original").get_attribute("href").endswith("/original/")

    # A stranger downloads through the link: the page counts it; after the second the
    # link is used up (410) and leaves the page.
    stranger = browser.new_context()
    link_href = page.locator("a.pixtier-link:has-text('original')").get_attribute("href")
    assert stranger.request.get(link_href).status == 200
    page.reload()
    counted = page.locator(".pixtier-links li:has(a.pixtier-link:has-text('original'))")
    assert counted.inner_text().endswith("1 of 2 downloads")
    screenshot(page, "image-links")
    assert [stranger.request.get(link_href).status for _ in range(2)] == [200, 410]
    page.reload()
    assert page.locator("a.pixtier-link:has-text('original')").count() == 0
    shared.refresh_from_db()
    assert shared.downloads == 2
