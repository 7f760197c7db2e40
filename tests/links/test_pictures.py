"""The browsable API shows pictures (SPEC 11): the image list and detail pages draw the
thumbnails inline (owner URLs, width and height, lazy, a colour behind them), the original
as a link when the tier has it, and the working expiring links with their remaining time
and download counts; the JSON stays as it is."""

import html
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

from rest_framework.test import APIClient

from pixtier.accounts.models import Tier, User
from pixtier.images.models import Image
from pixtier.links.models import ExpiringLink
from tests.helpers import jpeg_bytes

Clients = Callable[[User | None], APIClient]
Uploaded = Callable[..., dict[str, Any]]


class Drawn(HTMLParser):
    """The pictures section of a page: its <img> tags, and its links with their text."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # > 0 inside the pictures section
        self.images: list[dict[str, str | None]] = []
        self.links: list[tuple[dict[str, str | None], str]] = []
        self.text: list[str] = []
        self._open_link: dict[str, str | None] | None = None
        self._link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section" and "pixtier-pictures" in (attributes.get("class") or ""):
            self.depth = 1
        elif self.depth and tag in ("section", "article", "div", "ul", "li", "figure"):
            self.depth += 1
        if not self.depth:
            return
        if tag == "img":
            self.images.append(attributes)
        if tag == "a":
            self._open_link, self._link_text = attributes, []

    def handle_endtag(self, tag: str) -> None:
        if not self.depth:
            return
        if tag == "a" and self._open_link is not None:
            self.links.append((self._open_link, " ".join("".join(self._link_text).split())))
            self._open_link = None
        if tag in ("section", "article", "div", "ul", "li", "figure"):
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text.append(data)
            if self._open_link is not None:
                self._link_text.append(data)

    @property
    def words(self) -> str:
        return " ".join("".join(self.text).split())

    def hrefs(self, css_class: str) -> list[str]:
        return [
            str(attrs["href"]) for attrs, _ in self.links if css_class in (attrs.get("class") or "")
        ]


def drawn(client: APIClient, url: str) -> Drawn:
    response = client.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    parser = Drawn()
    parser.feed(response.content.decode())
    return parser


def test_the_detail_page_draws_each_thumbnail_with_its_size_lazily_on_a_colour(
    enterprise_user: User, owner: APIClient, uploaded: Uploaded
) -> None:
    image = uploaded(enterprise_user, jpeg_bytes(800, 600), title="Harbour")

    page = drawn(owner, image["url"])

    assert [(img["src"], img["width"], img["height"]) for img in page.images] == [
        (thumb["url"], str(thumb["width"]), str(thumb["height"])) for thumb in image["thumbnails"]
    ]
    assert [(img["width"], img["height"]) for img in page.images] == [
        ("267", "200"),
        ("533", "400"),
    ]
    assert image["dominant_color"]
    for img in page.images:
        assert img["loading"] == "lazy"
        assert img["style"] == f"background-color: {image['dominant_color']}"
        assert owner.get(str(img["src"])).status_code == 200  # owner URLs: they load
    assert page.hrefs("pixtier-original") == [image["original"]]


def test_a_thumbnail_height_above_the_original_is_drawn_at_the_original_size(
    enterprise_user: User, owner: APIClient, uploaded: Uploaded
) -> None:
    image = uploaded(enterprise_user, jpeg_bytes(300, 150))

    page = drawn(owner, image["url"])

    assert {(img["width"], img["height"]) for img in page.images} == {("300", "150")}


def test_an_image_without_a_dominant_colour_yet_loads_on_a_neutral_one(
    enterprise_user: User, owner: APIClient, uploaded: Uploaded
) -> None:
    image = uploaded(enterprise_user)
    Image.objects.filter(pk=image["id"]).update(dominant_color="")  # before the backfill

    page = drawn(owner, image["url"])

    assert {img["style"] for img in page.images} == {"background-color: #e6e6e6"}


def test_a_tier_without_originals_draws_no_original_link_and_no_links(
    basic_user: User, client_for: Clients, uploaded: Uploaded
) -> None:
    image = uploaded(basic_user)

    page = drawn(client_for(basic_user), image["url"])

    assert len(page.images) == 1
    assert page.hrefs("pixtier-original") == []
    assert page.hrefs("pixtier-link") == []
    assert "expires in" not in page.words


def test_the_list_page_draws_every_image_of_the_page_and_only_the_owners(
    enterprise_user: User,
    stranger: User,
    owner: APIClient,
    uploaded: Uploaded,
) -> None:
    mine = [uploaded(enterprise_user, title=f"Mine {i}") for i in range(3)]
    theirs = uploaded(stranger, title="Theirs")

    page = drawn(owner, "/api/v1/images/?page_size=2")

    srcs = [str(img["src"]) for img in page.images]
    assert len(srcs) == 4  # two images of this page, two heights each
    assert all(mine[2]["id"] in src or mine[1]["id"] in src for src in srcs)
    assert not any(theirs["id"] in src for src in srcs)


def test_the_working_links_are_drawn_with_remaining_time_and_download_counts(
    enterprise_user: User, owner: APIClient, uploaded: Uploaded, time_machine: Any
) -> None:
    time_machine.move_to("2026-11-22 10:00:00+00:00", tick=False)
    image = uploaded(enterprise_user)
    url = image["expiring_links"]
    counted = owner.post(url, {"expires_in": 600, "max_downloads": 3}, format="json").json()
    time_machine.shift(1)
    thumb = owner.post(url, {"expires_in": 7200, "height": 200}, format="json").json()
    revoked = owner.post(url, {"expires_in": 900}, format="json").json()
    owner.delete(revoked["api_url"])
    ExpiringLink.objects.filter(pk=counted["id"]).update(downloads=1)
    time_machine.shift(1)

    page = drawn(owner, image["url"])

    assert page.hrefs("pixtier-link") == [thumb["url"], counted["url"]]
    assert "200 px, expires in 1 h 59 min, 0 downloads" in page.words  # 7199 s left
    assert "original, expires in 9 min 58 s, 1 of 3 downloads" in page.words
    assert revoked["url"] not in page.hrefs("pixtier-link")


def test_the_json_is_the_same_with_pictures_drawn(
    enterprise_user: User, owner: APIClient, uploaded: Uploaded
) -> None:
    image = uploaded(enterprise_user)
    owner.post(image["expiring_links"], {"expires_in": 600}, format="json")

    html = owner.get(image["url"], HTTP_ACCEPT="text/html").content.decode()
    as_json = owner.get(image["url"], HTTP_ACCEPT="application/json").json()

    assert as_json == image
    shown = html.split('<div class="response-info"', 1)[1].split("</span>", 3)[-1]
    assert json.loads(_unescape(shown.split("</pre>", 1)[0]))["id"] == image["id"]


def _unescape(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def test_pages_that_are_not_images_draw_no_pictures(
    enterprise_user: User, owner: APIClient, uploaded: Uploaded, custom_tier: Tier
) -> None:
    uploaded(enterprise_user)

    for url in ("/api/v1/", "/api/v1/me/", "/api/v1/tiers/"):
        assert drawn(owner, url).images == []
