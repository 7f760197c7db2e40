"""Which format a thumbnail request gets (SPEC 10): ``?format=`` forces one; otherwise the
``Accept`` header, AVIF preferred over WebP over the original's format.

Only a media range that names AVIF or WebP picks it: ``image/*`` and ``*/*`` are what
every client sends, including those that cannot decode either, so they stand for the
original's format. Where nothing acceptable is left (``Accept: image/gif``), the
original's format is sent anyway: an image the client may not want beats a 406 it
surely does not.
"""

from dataclasses import dataclass
from functools import lru_cache

from pixtier.common.exceptions import BadRequest
from pixtier.images.processing import CONTENT_TYPES, OUTPUT_FORMATS, Format, OutputFormat

FORMAT_PARAMETER = "format"
# Ties in quality go to the first.
_PREFERENCE: tuple[OutputFormat, ...] = ("avif", "webp")


class UnknownFormat(BadRequest):
    """``?format=`` names no format we serve; ``str(exc)`` is the user's message."""


def _ranges(accept: str) -> dict[str, float]:
    """Media range -> quality, for each well-formed range of an Accept header (the
    highest, should one be listed twice). Malformed ranges and qualities are skipped."""
    ranges: dict[str, float] = {}
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        media = media.lower()
        if media.count("/") != 1:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = -1.0
        if not 0.0 <= quality <= 1.0:
            continue
        ranges[media] = max(quality, ranges.get(media, 0.0))
    return ranges


def _quality(ranges: dict[str, float], media_type: str, *, wildcards: bool) -> float:
    """The quality the most specific matching range gives ``media_type`` (RFC 9110
    12.5.1); 0 when none matches."""
    candidates = [media_type]
    if wildcards:
        candidates += [media_type.split("/")[0] + "/*", "*/*"]
    for candidate in candidates:
        if candidate in ranges:
            return ranges[candidate]
    return 0.0


# Clients send few distinct Accept headers (one per browser version): parsing them was a
# tenth of a warm download's CPU. Bounded, so odd headers cannot grow it.
@lru_cache(maxsize=512)
def thumbnail_format(*, original: Format, accept: str | None, forced: str | None) -> OutputFormat:
    """The format to serve a thumbnail of an ``original``-format image in.

    ``forced`` is the ``format`` query parameter (None when absent). Raises
    :class:`UnknownFormat` for a value that names no format we serve.
    """
    if forced is not None:
        wanted = forced.strip().lower()
        for fmt in OUTPUT_FORMATS:
            if wanted == fmt:
                return fmt
        raise UnknownFormat(
            f"format must be one of {', '.join(OUTPUT_FORMATS)}; got {forced[:40]!r}."
        )
    if not accept:
        return original
    ranges = _ranges(accept)
    best: OutputFormat = original
    best_quality = _quality(ranges, CONTENT_TYPES[original], wildcards=True)
    for fmt in reversed(_PREFERENCE):  # so that AVIF, checked last, wins a tie
        quality = _quality(ranges, CONTENT_TYPES[fmt], wildcards=False)
        if quality > 0 and quality >= best_quality:
            best, best_quality = fmt, quality
    return best


@dataclass(frozen=True)
class FormatRequest:
    """What a request says about the format it wants, read (and ``?format=`` checked)
    before the image is known; :meth:`pick` answers once its original's format is."""

    accept: str | None
    forced: OutputFormat | None

    @classmethod
    def read(cls, *, accept: str | None, forced: str | None) -> "FormatRequest":
        """Raises :class:`UnknownFormat` for a ``?format=`` that names no format."""
        checked = None
        if forced is not None:
            checked = thumbnail_format(original="jpeg", accept=None, forced=forced)
        return cls(accept=accept, forced=checked)

    def pick(self, original: Format) -> OutputFormat:
        return thumbnail_format(original=original, accept=self.accept, forced=self.forced)

    def picks(self) -> dict[Format, OutputFormat]:
        """The pick for each original format, for a lookup made before it is known."""
        return {"jpeg": self.pick("jpeg"), "png": self.pick("png")}
