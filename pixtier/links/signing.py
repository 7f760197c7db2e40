"""Tamper-proof tokens for expiring links: the link id and its expiry, signed.

The expiry is inside the signature, so an expired link is refused before the
database is asked, and no one can stretch a link's life by editing the URL.
"""

import uuid
from dataclasses import dataclass

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
    try:
        value = _signer().unsign(token)
        link_hex, expires = value.split(".")
        return LinkClaim(uuid.UUID(hex=link_hex), int(expires))
    except (signing.BadSignature, ValueError):
        return None
