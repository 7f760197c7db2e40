"""Domain errors: what services, processing and access decisions raise, with the user's
message as ``str(exc)``.

A leaf module (it imports nothing of Pixtier's), so that the apps raise these and
``pixtier.common.errors`` alone maps them to HTTP answers without importing any app.
"""


class ImageRejected(Exception):
    """The bytes cannot become a Pixtier image; ``str(exc)`` is the user's message."""


class UnsupportedImage(ImageRejected):
    """Not a PNG or JPEG."""


class ImageTooLarge(ImageRejected):
    """A real PNG or JPEG, but over the pixel or dimension limit."""


class OverBudget(ImageTooLarge):
    """A real PNG or JPEG whose decode would cost more work, memory or time than a budget
    (SPEC 9)."""


class CorruptImage(ImageRejected):
    """Claims to be PNG or JPEG but does not decode."""


class QuotaExceeded(Exception):
    """The upload would take the owner over a quota of their tier; ``str(exc)`` names the
    quota and the current usage."""

    def __init__(self, message: str, *, quota: str) -> None:
        super().__init__(message)
        self.quota = quota


class DomainError(Exception):
    """Base of the errors an access decision or a link service raises."""


class NotFound(DomainError):
    """Missing, or someone else's (indistinguishable on purpose): 404."""


class NotInTier(DomainError):
    """The owner's tier does not include this (any more): 403."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        # The request field at fault, when the tier has the feature but not this target
        # (a height it lacks): then the answer is a 400 naming the field.
        self.field = field


class Gone(DomainError):
    """An expiring link that expired, was revoked, used up, or whose owner left: 410."""


class NotReady(DomainError):
    """A thumbnail still being made elsewhere after the wait limit: 503, retry."""


class BadRequest(DomainError):
    """A request parameter names nothing we have: 400."""


class NotAuthenticated(DomainError):
    """No valid credentials where they are needed: 401."""
