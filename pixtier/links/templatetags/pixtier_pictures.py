"""The browsable API shows pictures (SPEC 11): what the image list and detail pages draw
above their JSON, read from the response's own data (the JSON is left as it is), plus
the images' working expiring links."""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from pixtier.images.api import ImageDetailApi, ImageListApi
from pixtier.links.api import ExpiringLinkSerializer, pending_downloads
from pixtier.links.selectors import valid_links

register = template.Library()

# Behind a thumbnail while it loads when the image has no dominant colour (yet).
NEUTRAL = "#e6e6e6"
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# Links drawn per image; the rest are one click away in the link list.
LINKS_SHOWN = 5


@dataclass(frozen=True)
class Thumbnail:
    label: str
    url: str
    width: int
    height: int


@dataclass(frozen=True)
class SharedLink:
    url: str
    target: str
    expires_at: datetime
    downloads: int
    max_downloads: int | None


@dataclass
class Picture:
    title: str
    url: str
    width: int
    height: int
    background: str
    thumbnails: list[Thumbnail]
    original: str | None
    links_url: str | None
    links: list[SharedLink] = field(default_factory=list)
    more_links: int = 0


def _images(view: Any, response: Response) -> list[dict[str, Any]]:
    data = getattr(response, "data", None)
    if not isinstance(view, (ImageListApi, ImageDetailApi)) or not isinstance(data, dict):
        return []
    if response.status_code not in (200, 201):
        return []
    found = data.get("results", [data])
    return [image for image in found if isinstance(image, dict) and "thumbnails" in image]


def _picture(image: dict[str, Any]) -> Picture:
    colour = image.get("dominant_color")
    thumbnails = [
        # The file is never taller than the original (no upscaling).
        Thumbnail(
            label=f"{thumb['height']} px",
            url=thumb["url"],
            width=thumb["width"],
            height=min(thumb["height"], image["height"]),
        )
        for thumb in image["thumbnails"]
    ]
    return Picture(
        title=image["title"] or "untitled",
        url=image["url"],
        width=image["width"],
        height=image["height"],
        background=colour if isinstance(colour, str) and _HEX_COLOUR.fullmatch(colour) else NEUTRAL,
        thumbnails=thumbnails,
        original=image["original"],
        links_url=image["expiring_links"],
    )


def _attach_links(pictures: dict[str, Picture], request: Request) -> None:
    wanted = [pk for pk, picture in pictures.items() if picture.links_url]
    if not wanted:
        return
    links = (
        valid_links()
        .filter(image_id__in=wanted, image__owner_id=request.user.pk)
        .order_by("-created_at", "-id")
    )
    by_image: dict[str, list[Any]] = defaultdict(list)
    for link in links:
        by_image[str(link.image_id)].append(link)
    for pk, found in by_image.items():
        context = {"request": request, "pending": pending_downloads(found[:LINKS_SHOWN])}
        shown = ExpiringLinkSerializer(found[:LINKS_SHOWN], many=True, context=context).data
        pictures[pk].links = [
            SharedLink(
                url=data["url"],
                target="original" if data["height"] is None else f"{data['height']} px",
                expires_at=link.expires_at,
                downloads=data["downloads"],
                max_downloads=data["max_downloads"],
            )
            for link, data in zip(found, shown, strict=False)
        ]
        pictures[pk].more_links = max(0, len(found) - LINKS_SHOWN)


@register.simple_tag(takes_context=True)
def pictures(context: template.Context) -> list[Picture]:
    """The images of an image list or detail page, with their working links."""
    images = _images(context.get("view"), context.get("response"))  # type: ignore[arg-type]
    if not images:
        return []
    drawn = {str(image["id"]): _picture(image) for image in images}
    request = context.get("request")
    if isinstance(request, Request):
        _attach_links(drawn, request)
    return list(drawn.values())


@register.filter
def remaining(expires_at: datetime) -> str:
    """Time left as "9 min 58 s", "2 h 5 min" (the page shows when it was drawn)."""
    seconds = max(0, int((expires_at - timezone.now()).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"
