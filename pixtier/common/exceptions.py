"""Domain errors: what services and processing raise, with the user's message as ``str(exc)``.

A leaf module (it imports nothing of Pixtier's), so that the apps raise these and
``pixtier.common.errors`` alone maps them to HTTP answers without importing any app.
"""


class ImageRejected(Exception):
    """The bytes cannot become a Pixtier image; ``str(exc)`` is the user's message."""


class UnsupportedImage(ImageRejected):
    """Not a PNG or JPEG."""


class ImageTooLarge(ImageRejected):
    """A real PNG or JPEG, but over the pixel or dimension limit."""


class CorruptImage(ImageRejected):
    """Claims to be PNG or JPEG but does not decode."""


class QuotaExceeded(Exception):
    """The upload would take the owner over a quota of their tier; ``str(exc)`` names the
    quota and the current usage."""

    def __init__(self, message: str, *, quota: str) -> None:
        super().__init__(message)
        self.quota = quota
