"""Fuzzing: schemathesis drives every operation of Pixtier's own OpenAPI schema, signed
in as an Enterprise user with a JWT, and checks that nothing answers 5xx and that every
answer is one the schema documents (status code, content type, body).

Bounded and reproducible: a fixed seed, derandomized Hypothesis, ``FUZZ_EXAMPLES`` cases
per operation and phase (default 25; raise it locally to dig deeper). Half the valid
cases name things that exist (an image of the user with a working link, and that link's
signed download token), so the fuzzer gets past the 404 to the code behind it.
"""

import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

from config.wsgi import application
from pixtier.accounts.authentication import CREDENTIAL_CLAIM
from pixtier.accounts.models import User
from pixtier.accounts.selectors import tier_capabilities
from pixtier.images.services import image_upload
from pixtier.links.services import expiring_link_create
from pixtier.links.signing import link_token
from tests.helpers import jpeg_bytes

# A generated request to any operation of the schema.
Case = schemathesis.Case[Any]

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SEED = 20_261_122
# A valid request may still be refused where the schema cannot say what is valid: the
# bytes of an upload (binary, but they must decode as PNG or JPEG), a pagination cursor
# (a string, but only one the server issued), a link's height (an integer, but one of
# the caller's tier).
OPAQUE = {"checks": {"positive_data_acceptance": {"expected-statuses": [
    "2XX", "3XX", 400, 401, 403, 404, 413, 415, 429,
]}}}  # fmt: skip
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": EXAMPLES},
        # Examples, boundary values (coverage) and random data (fuzzing); the stateful
        # phase needs links between operations that the schema does not declare.
        "phases": {"stateful": {"enabled": False}},
        "operations": [
            # A multipart form carries text only: a "title" generated as a list or a
            # number arrives as its text, a fine title; the type checks cannot hold.
            {
                "include-name": "POST /api/v1/images/",
                "checks": {
                    **OPAQUE["checks"],
                    "negative_data_rejection": {"enabled": False},
                },
            },
            {"include-name": "GET /api/v1/images/", **OPAQUE},
            {"include-name": "GET /api/v1/images/{image_id}/expiring-links/", **OPAQUE},
            {"include-name": "POST /api/v1/images/{image_id}/expiring-links/", **OPAQUE},
        ],
    }
)

# Loaded from the app itself, in-process through WSGI (the schema view needs no
# database), which schemathesis calls as http://localhost.
with override_settings(ALLOWED_HOSTS=["localhost"]):
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", application, config=CONFIG
    )
# What exists for the running test (filled in by the ``fuzzer`` fixture).
EXISTING: dict[str, Any] = {}
# The fuzzer's id, fixed so that its token can be made now: schemathesis builds the cases
# of its coverage phase, credentials included, while collecting the tests.
FUZZER_ID = 4242
ACCESS = AccessToken()
ACCESS[jwt_settings.USER_ID_CLAIM] = FUZZER_ID
FUZZER_STAMP = "fuzzer-credential-stamp"  # given to the fuzzer's row once it exists
ACCESS[CREDENTIAL_CLAIM] = FUZZER_STAMP
ACCESS.set_exp(lifetime=timedelta(days=1))  # however long the suite runs before this test


@schema.auth(refresh_interval=None)
class Bearer:
    """The fuzzer's JWT; schemathesis leaves it out of cases that test bad credentials."""

    def get(self, case: Case, context: schemathesis.AuthContext) -> str:
        return str(ACCESS)

    def set(self, case: Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


@schema.hook
def flatmap_case(context: schemathesis.HookContext, case: Case) -> Any:
    """Valid cases name what exists half the time; invalid ones are left as generated."""
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return st.just(case)

    def existing(use: bool) -> Case:
        if use and case.path_parameters:
            names = [name for name in case.path_parameters if name in EXISTING]
            case.path_parameters = {**case.path_parameters, **{n: EXISTING[n] for n in names}}
        return case

    return st.booleans().map(existing)


@pytest.fixture
def wsgi_keeps_the_test_connection() -> Iterator[None]:
    """Django's WSGI handler closes the database connection around each request, which
    would end the test's transaction; Django's own test client unhooks it the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzzer(make_user: Any, settings: Any, wsgi_keeps_the_test_connection: None) -> Iterator[User]:
    """An Enterprise user with an image and a working link to its original."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    user: User = make_user("Enterprise", username="fuzzer", id=FUZZER_ID)
    User.objects.filter(pk=FUZZER_ID).update(credential_stamp=FUZZER_STAMP)
    image = image_upload(
        owner=user, file=SimpleUploadedFile("seed.jpg", jpeg_bytes(480, 360)), title="seed"
    )
    link = expiring_link_create(
        image=image, expires_in=3000, height=None, capabilities=tier_capabilities(user=user)
    )
    EXISTING.update(
        image_id=str(image.pk),
        link_id=str(link.pk),
        height=200,
        token=link_token(link_id=link.pk, expires_at=int(link.expires_at.timestamp())),
    )
    yield user
    EXISTING.clear()


@schema.parametrize()
@settings(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_outside_its_schema(case: Case, fuzzer: User) -> None:
    case.call_and_validate()


@schema.hook
def after_call(
    context: schemathesis.HookContext, case: Case, response: schemathesis.Response
) -> None:
    CALLS[case.operation.label][response.status_code] += 1


CALLS: defaultdict[str, Counter[int]] = defaultdict(Counter)


def test_the_fuzzer_got_past_the_door() -> None:
    """Every operation was answered past its door at least once: the cases were signed in
    and named what exists, so the checks above saw more than 401s, 404s and 405s. (Not
    "a 2xx for each": which random bodies reach a real image depends on what ran before
    in the process; a full single-process run once left link creation five cases, all
    refused by validation, which is past the door too.)"""
    operations = {result.ok().label for result in schema.get_all_operations()}  # type: ignore[union-attr]
    if set(CALLS) != operations:
        pytest.skip("only some operations were fuzzed in this run")
    door = {401, 404, 405}
    never = [label for label in operations if not set(CALLS[label]) - door]
    assert never == [], [dict(CALLS[label]) for label in never]
    # And most of them succeeded: the fixture's user, image and link are reached.
    succeeded = [label for label in operations if any(200 <= c < 300 for c in CALLS[label])]
    assert len(succeeded) >= len(operations) - 2, sorted(operations - set(succeeded))
    print(f"{sum(map(Counter.total, CALLS.values()))} cases")  # shown with -s
