"""Tamper-proof tokens for expiring links: the link id and its expiry, signed.

The expiry is inside the signature, so an expired link is refused before the
database is asked, and no one can stretch a link's life by editing the URL.
"""

import uuid
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core import signing

_SALT = "pixtier.links.v1"


@dataclass(frozen=True)
class LinkClaim:
    link_id: uuid.UUID
    expires_at: int  # Unix seconds


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT, sep=".")


def link_token(*, link_id: uuid.UUID, expires_at: int) -> str:
    return _signer().sign(f"{link_id.hex}.{expires_at}")


def link_token_read(token: str) -> LinkClaim | None:
    """The claim in a token with a valid signature, else ``None``."""
    return _read(token, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))


# A link is downloaded again and again: its signature is checked once per process and
# key (measured: most of what a link adds to an owner's warm download). Bounded, so
# tokens made up by clients cannot grow it; keyed on the keys, so a rotation is seen.
@lru_cache(maxsize=4096)
def _read(token: str, key: str, fallbacks: tuple[str, ...]) -> LinkClaim | None:
    try:
        value = _signer().unsign(token)
        link_hex, expires = value.split(".")
        return LinkClaim(uuid.UUID(hex=link_hex), int(expires))
    except (signing.BadSignature, ValueError):
        return None
