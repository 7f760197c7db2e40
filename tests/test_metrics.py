"""Prometheus metrics at /metrics: Pixtier's own counters move when a user uploads, a
thumbnail is made and an expiring link is used; django-prometheus adds the HTTP ones."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from pixtier.accounts.models import User
from tests.helpers import jpeg_bytes, png_bytes, upload

Clients = Callable[[User | None], APIClient]
Uploaded = Callable[..., dict[str, Any]]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """How much a sample moved since this was made."""

    def __init__(self, name: str, **labels: str) -> None:
        self.name, self.labels = name, labels
        self.start = sample(name, **labels)

    def __call__(self) -> float:
        return sample(self.name, **self.labels) - self.start


def uploads(outcome: str) -> Delta:
    return Delta("pixtier_uploads_total", outcome=outcome)


def test_a_stored_upload_is_counted(basic_user: User, uploaded: Uploaded) -> None:
    stored = uploads("stored")
    uploaded(basic_user)
    uploaded(basic_user, png_bytes())
    assert stored() == 2


@pytest.mark.parametrize(
    ("data", "status", "outcome"),
    [
        (b"GIF89a" + b"\0" * 64, 415, "unsupported"),
        (jpeg_bytes(320, 240)[:2000], 400, "corrupt"),
        (jpeg_bytes(640, 480), 413, "too_large"),
    ],
)
def test_a_refused_upload_is_counted_by_reason(
    basic_user: User, client_for: Clients, settings: Any, data: bytes, status: int, outcome: str
) -> None:
    settings.PIXTIER_MAX_PIXELS = 640 * 480 - 1
    refused, stored = uploads(outcome), uploads("stored")
    assert upload(client_for(basic_user), data).status_code == status
    assert (refused(), stored()) == (1, 0)


def test_making_thumbnails_counts_each_and_times_the_render(
    premium_user: User, client_for: Clients, uploaded: Uploaded
) -> None:
    made = Delta("pixtier_thumbnails_generated_total", format="png")
    renders = Delta("pixtier_thumbnail_generation_seconds_count", format="png")
    rendering = Delta("pixtier_thumbnail_generation_seconds_sum", format="png")
    image = uploaded(premium_user, png_bytes())
    heights = [t["height"] for t in image["thumbnails"]]
    client = client_for(premium_user)

    # The upload's one decode made every height of the tier; asking makes nothing more.
    assert (made(), renders()) == (len(heights), 1)
    assert client.get(image["thumbnails"][0]["url"]).status_code == 200
    assert (made(), renders()) == (len(heights), 1)
    assert rendering() > 0
    assert client.get(image["thumbnails"][-1]["url"]).status_code == 200
    assert (made(), renders()) == (len(heights), 1)


def test_link_downloads_are_counted_by_outcome(
    enterprise_user: User, client_for: Clients, uploaded: Uploaded
) -> None:
    owner, anonymous = client_for(enterprise_user), client_for(None)
    image = uploaded(enterprise_user)
    link = owner.post(image["expiring_links"], {"expires_in": 300}, format="json").json()
    served, invalid, gone = (
        Delta("pixtier_link_downloads_total", outcome=o) for o in ("served", "invalid", "gone")
    )

    assert anonymous.get(link["url"]).status_code == 200
    assert anonymous.get(link["url"] + "x/").status_code == 404  # not a route: not counted
    assert anonymous.get(link["url"].rstrip("/") + "x/").status_code == 404  # bad signature
    assert owner.delete(link["api_url"]).status_code == 204
    assert anonymous.get(link["url"]).status_code == 410
    assert (served(), invalid(), gone()) == (1, 1, 1)


def test_metrics_are_exported_at_the_root_for_prometheus(
    basic_user: User, uploaded: Uploaded
) -> None:
    uploaded(basic_user)
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for series in (
        'pixtier_uploads_total{outcome="stored"}',
        'pixtier_thumbnails_generated_total{format="jpeg"}',
        'pixtier_thumbnail_generation_seconds_bucket{format="jpeg",le="0.1"}',
        'pixtier_link_downloads_total{outcome="served"}',
        # django-prometheus: requests by view, so the upload above shows up.
        'django_http_requests_total_by_view_transport_method_total{method="POST",'
        'transport="http",view="image-list"}',
    ):
        assert series in text, series


def test_with_a_token_set_only_its_holder_reads_the_metrics(settings: Any) -> None:
    settings.PIXTIER_METRICS_TOKEN = "scraper-token-0123456789"

    anonymous = Client().get("/metrics")
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer guess")
    scraper = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scraper-token-0123456789")

    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert "token" in anonymous.json()["detail"]
    assert "pixtier_uploads_total" not in wrong.content.decode()
    assert scraper.status_code == 200
    assert "pixtier_uploads_total" in scraper.content.decode()
