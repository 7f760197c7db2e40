"""The only module that touches image bytes: identify, validate and make thumbnails.

Bytes in, bytes out; no Django models or storage here. Only the JPEG and PNG loaders of
libvips ever decode client data; every other format is named from its signature and
refused before any pixel is read.
"""

import logging
import re
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, cast

import pyvips

from pixtier.common.exceptions import (
    CorruptImage,
    ImageRejected,
    ImageTooLarge,
    OverBudget,
    UnsupportedImage,
)
from pixtier.images import structure

__all__ = [
    "CorruptImage",
    "ImageRejected",
    "ImageTooLarge",
    "OverBudget",
    "UnsupportedImage",
]

Format = Literal["jpeg", "png"]  # what uploads may be
# What thumbnails may be: the original's format, or one a client negotiates (SPEC 10).
OutputFormat = Literal["jpeg", "png", "webp", "avif"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("jpeg", "png", "webp", "avif")
# How hard the encoder works: "fast" for a thumbnail a request waits for, "thorough" for
# one made in the background. Only AVIF has two settings (EncoderSettings); the other
# formats encode alike either way.
Encoding = Literal["fast", "thorough"]
TWO_SPEED_FORMATS: tuple[OutputFormat, ...] = ("avif",)

CONTENT_TYPES: dict[OutputFormat, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
}
EXTENSIONS: dict[OutputFormat, str] = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif"}
# libvips loaders (VipsForeignLoad<Name>Buffer) whose files are PNG or JPEG to any other
# reader. Ultra HDR is a JPEG with a gain map appended, as recent phones write it; we keep
# the file and show its standard (SDR) image.
_ACCEPTED_LOADERS: dict[str, Format] = {"jpeg": "jpeg", "uhdr": "jpeg", "png": "png"}
# libvips loaders for formats we refuse, as a user would call them.
_OTHER_FORMATS = {
    "nsgif": "a GIF image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "tiff": "a TIFF image",
    "heif": "a HEIF/AVIF image",
    "svg": "an SVG image",
    "pdf": "a PDF document",
    "jp2k": "a JPEG 2000 image",
    "jxl": "a JPEG XL image",
    "magick": "an image in a format we do not accept",
    "ppm": "a PPM image",
    "rad": "a Radiance HDR image",
    "fits": "a FITS image",
    "vips": "a VIPS image",
    "matrix": "a text matrix",
    "csv": "CSV data",
}
# EXIF orientations 5-8 turn the picture by 90 degrees: displayed width is stored height.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}
# PNG thumbnails: zlib level 2 with the Sub row filter. On photo-like thumbnails it is
# both faster (-20 %) and smaller (-24 %) than libvips's default (level 6, no filter);
# level 1 is faster still but a third larger, every filter tried per row 5 % smaller
# for 60 % more time (measured with `make bench` inputs).
_PNG_COMPRESSION = 2
_PNG_FILTERS = 0x10  # VIPS_FOREIGN_PNG_FILTER_SUB


@dataclass(frozen=True)
class ImageInfo:
    format: Format
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


@dataclass(frozen=True)
class Rendered:
    data: bytes
    width: int
    height: int


# At most this many decodes run at once in a process; others queue (see ``configure``).
_decode_slots = threading.BoundedSemaphore(2)


def configure(*, concurrent_decodes: int = 2) -> None:
    """Process-wide libvips settings: no untrusted loaders, no cache of decoded images;
    and how many decodes may run at once (each within its memory budget)."""
    global _decode_slots
    pyvips.block_untrusted_set(True)
    pyvips.cache_set_max(0)
    _loader_warnings.attach()
    _decode_slots = threading.BoundedSemaphore(concurrent_decodes)


def thumbnail_size(width: int, height: int, target_height: int) -> tuple[int, int]:
    """Size of the thumbnail for tier height H: aspect kept, never upscaled.

    ``width`` and ``height`` are the displayed (EXIF-oriented) size of the original.
    """
    if target_height >= height:
        return width, height
    scaled = (width * target_height * 2 + height) // (2 * height)  # round half up
    return max(1, scaled), target_height


def _sniff(data: bytes) -> str | None:
    """The libvips loader whose signature matches ``data``, e.g. "jpeg", "png", "nsgif".

    libvips's own format detection, which its Python binding does not wrap.
    """
    pointer = pyvips.vips_lib.vips_foreign_find_load_buffer(data, len(data))
    if pointer == pyvips.ffi.NULL:
        pyvips.vips_lib.vips_error_clear()
        return None
    name: str = pyvips.ffi.string(pointer).decode()
    return name.removeprefix("VipsForeignLoad").removesuffix("Buffer").lower()


# Signatures of formats libvips has no loader for here, as a user would call them.
_SIGNATURES = {
    b"BM": "a BMP image",
    b"PK\x03\x04": "a ZIP archive",
    b"\x00\x00\x01\x00": "an ICO icon",
    b"\x00\x00\x00\x0cjP  \r\n\x87\n": "a JPEG 2000 image",
    b"\xff\x4f\xff\x51": "a JPEG 2000 image",
    b"8BPS": "a Photoshop document",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"II+\x00": "a TIFF image",  # BigTIFF
    b"MM\x00+": "a TIFF image",
    b"qoif": "a QOI image",
    b"DDS ": "a DDS texture",
    b"\x01\xda": "an SGI image",
}
# Netpbm: "P1" to "P7" (and "Pf"/"PF" for PFM), then whitespace.
_NETPBM = re.compile(rb"P[1-7fF]\s")
_BINARY = "binary data that is not an image format we recognise"
# Control characters other than tab, line feed, form feed and carriage return: not text.
_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13}) + b"\x7f"


def _looks_like_tga(data: bytes) -> bool:
    """TGA has no signature at its start: a version 2 file ends with one, and any other
    is told by a consistent header (colour map, image type, depth, size, descriptor)."""
    if data.endswith(b"TRUEVISION-XFILE.\x00"):
        return True
    if len(data) < 18:
        return False
    colour_map, kind, depth, descriptor = data[1], data[2], data[16], data[17]
    width, height = int.from_bytes(data[12:14], "little"), int.from_bytes(data[14:16], "little")
    if colour_map == 0:
        mapped = kind in (2, 3, 10, 11) and data[3:8] == bytes(5)
    else:
        mapped = colour_map == 1 and kind in (1, 9) and data[7] in (15, 16, 24, 32)
    return (
        mapped
        and depth in (8, 15, 16, 24, 32)
        and width > 0
        and height > 0
        and descriptor & 0xC0 == 0
    )


def _describe_unknown(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML document"
    if head.startswith(b"%pdf"):
        return "a PDF document"
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "an SVG image"
    for signature, name in _SIGNATURES.items():
        if data.startswith(signature):
            return name
    if _NETPBM.match(data):
        return "a PPM (Netpbm) image"
    if len(data) > 128 and data[0] == 0x0A and data[1] in (0, 2, 3, 4, 5) and data[2] in (0, 1):
        return "a PCX image"
    if _looks_like_tga(data):
        return "a TGA image"
    sample = data[:4096]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return _BINARY
    if any(byte in _CONTROL for byte in sample):
        return _BINARY
    return "text, not an image"


def _load(data: bytes, fmt: Format, *, fail_on: str = "error", **options: object) -> pyvips.Image:
    # From a source over the bytes themselves: ``*load_buffer`` copies the whole file into
    # libvips first, at every load (2 MB for a 12 MP JPEG, 20 MB for a PNG, twice per pass).
    source = pyvips.Source.new_from_memory(data)
    loader = pyvips.Image.jpegload_source if fmt == "jpeg" else pyvips.Image.pngload_source
    image: pyvips.Image = loader(source, fail_on=fail_on, **options)
    # libvips reads ``data`` in place for as long as the image lives; keep it alive with
    # the image, as ``pyvips.Image.new_from_source`` does.
    image._references.append(source)
    return image


def identify(data: bytes) -> Format:
    """The format of ``data`` if it is one we accept, judged by its signature."""
    if not data:
        raise CorruptImage("The file is empty (0 bytes). Send a PNG or JPEG image.")
    loader = _sniff(data)
    if loader in _ACCEPTED_LOADERS:
        return _ACCEPTED_LOADERS[loader]
    if loader is None:
        received = _describe_unknown(data)
    else:
        received = _OTHER_FORMATS.get(loader, f"an image in {loader.upper()} format")
    raise UnsupportedImage(f"Only PNG and JPEG images are accepted; received {received}.")


@dataclass(frozen=True)
class Limits:
    """What one decode of client data may cost (SPEC §5 and §9); settings fill it in."""

    max_pixels: int = 50_000_000
    max_dimension: int = 20_000
    max_jpeg_scans: int = 100
    max_scan_blocks: int = 50_000_000  # 8x8 blocks decoded, summed over a JPEG's scans
    max_decode_bytes: int = 256_000_000  # held at once by one decode
    max_metadata_bytes: int = 4_000_000  # inflated metadata kept (a PNG's colour profile)
    max_png_chunks: int = 50_000
    max_decode_seconds: float = 10.0  # wall clock; libvips stops the decode past it


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class _Prepared:
    info: ImageInfo
    decodable: bytes  # what the decoder reads (see pixtier.images.structure)


_MB = 1_000_000
_RESAVE = "Save it again as a baseline JPEG (or with fewer progressive scans)."


_Facts = structure.JpegFacts | structure.PngFacts


def _structure(data: bytes, fmt: Format, limits: Limits) -> _Facts:
    """The file's structure, walked before libvips reads even its header."""
    if fmt == "png":
        budget = structure.PngBudget(
            max_chunks=limits.max_png_chunks, max_metadata_bytes=limits.max_metadata_bytes
        )
        return structure.png_facts(data, budget)
    jpeg = structure.jpeg_facts(data, structure.JpegBudget(max_scans=limits.max_jpeg_scans))
    if jpeg.precision != 8:
        raise UnsupportedImage(
            f"The file is a {jpeg.precision}-bit JPEG, which is not supported; "
            f"save it as an 8-bit JPEG or a PNG."
        )
    if jpeg.frame in ("lossless", "hierarchical"):
        raise UnsupportedImage(
            f"The file is a {jpeg.frame} JPEG, which is not supported; "
            f"save it as a standard JPEG or a PNG."
        )
    return jpeg


def _check_budgets(facts: _Facts, limits: Limits) -> None:
    """Work and memory budgets of the decode, from the structure (SPEC §9)."""
    if isinstance(facts, structure.JpegFacts) and facts.scan_blocks > limits.max_scan_blocks:
        raise OverBudget(
            f"The JPEG's {facts.scans} scans decode {facts.scan_blocks / _MB:.1f} million "
            f"8x8 blocks; the limit is {limits.max_scan_blocks / _MB:g} million. {_RESAVE}"
        )
    if facts.decode_bytes > limits.max_decode_bytes:
        if isinstance(facts, structure.JpegFacts):
            what = f"this {facts.frame} JPEG with {facts.scans} scans"
            advice = _RESAVE
        else:
            what = f"this interlaced {facts.bit_depth}-bit PNG"
            advice = "Save it again without interlacing."
        raise OverBudget(
            f"Decoding {what} needs {facts.decode_bytes / _MB:.0f} MB of memory at once; "
            f"the limit is {limits.max_decode_bytes / _MB:g} MB. {advice}"
        )
    if isinstance(facts, structure.JpegFacts) and not facts.complete:
        # A decode shrunk on load does not always reach the last rows' data (it stops
        # where the resize has what it needs); the end marker is where a full decode
        # would find the file cut short (docs/decode.md).
        raise CorruptImage("The JPEG file is truncated or corrupt and cannot be decoded.")


def _prepare(data: bytes, limits: Limits) -> _Prepared:
    """Everything known before decoding a pixel: the format, the structure, the header,
    every size limit and every budget. Raises a subclass of :class:`ImageRejected`."""
    fmt = identify(data)
    name = fmt.upper()
    facts = _structure(data, fmt, limits)
    try:
        header = _load(facts.decodable, fmt)
        width, height = header.width, header.height
        orientation = header.get("orientation") if header.get_typeof("orientation") else 1
    except pyvips.Error as exc:
        raise CorruptImage(f"The file looks like a {name} but its header is corrupt.") from exc
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
            f"the limit is {limits.max_pixels / 1e6:g} megapixels."
        )
    if max(width, height) > limits.max_dimension:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; "
            f"no side may exceed {limits.max_dimension} pixels."
        )
    _check_budgets(facts, limits)
    if orientation in _TRANSPOSING_ORIENTATIONS:
        width, height = height, width
    return _Prepared(ImageInfo(format=fmt, width=width, height=height), facts.decodable)


def _to_8bit(image: pyvips.Image) -> pyvips.Image:
    if image.format == "uchar":
        return image
    grey = image.interpretation in ("b-w", "grey16")
    return image.colourspace("b-w" if grey else "srgb").cast("uchar")


@dataclass(frozen=True)
class EncoderSettings:
    """WebP and AVIF encoder settings, chosen by measurement (``python -m bench.formats``,
    docs/benchmarks/formats.md): on real photographs at 200 and 400 px, the fewest bytes
    whose SSIM is never below the JPEG Q85 thumbnail's. AVIF has two: a fast one for a
    first request (a cold 400 px AVIF within 3x a cold JPEG), and a thorough one that
    the background uses, and that replaces the fast encode once made (two-speed AVIF)."""

    # WebP Q84 effort 4: 0.77x the JPEG bytes; Q83 falls below the JPEG's SSIM. Effort 6,
    # the "photo" preset and smart subsampling need more bytes for that SSIM; smart
    # deblocking the same bytes at 7x the encode time. alpha_q stays 100 (lossless alpha):
    # 80 and 90 are no smaller, 60 saves a fifth of a transparent thumbnail but blurs the
    # cut-out's edge (alpha off by 1.5/255 on average, SSIM 0.002 lower).
    webp_quality: int = 84
    webp_effort: int = 4
    # AVIF (libaom), fast (a first request waits for it): Q70 effort 0, 10 bit, tuned for
    # SSIM, 4:2:0: 0.74x the JPEG bytes; a cold 400 px AVIF 1.3-1.6x a cold JPEG for a
    # 12 MP JPEG, 2.1-2.3x for a 1080p one. libvips' defaults (8 bit, tune "iq") needed
    # 0.83x. Effort 1 reaches 0.64x, but alone takes a cold AVIF of a 1080p JPEG to 5-6x
    # a JPEG (2.5-3.6x at 12 MP). 12 bit and 4:4:4 cost bytes. One Q per format: a Q per
    # height saves 1 %.
    avif_quality: int = 70
    avif_effort: int = 0
    avif_bitdepth: int = 10
    avif_tune: str = "ssim"
    # AVIF, thorough (made in the background, then kept and served): Q63 effort 4, the
    # rest as the fast one: 0.566x the JPEG bytes, 0.4-0.7 s for the largest photograph's
    # 400 px thumbnail (1 s for a 711x400 one of a grainy 1080p scene). Effort 3 needs
    # Q65 for the JPEG's SSIM: 0.597x, at the 0.6x target's edge, in 0.2 s; effort 5
    # 0.565x in 1 s; effort 4 at 8 bit needs Q65: 0.586x.
    avif_thorough_quality: int = 63
    avif_thorough_effort: int = 4

    def webp_options(self) -> dict[str, object]:
        return {"Q": self.webp_quality, "effort": self.webp_effort}

    def avif_options(self, encoding: Encoding = "fast") -> dict[str, object]:
        thorough = encoding == "thorough"
        return {
            "compression": "av1",
            "Q": self.avif_thorough_quality if thorough else self.avif_quality,
            "effort": self.avif_thorough_effort if thorough else self.avif_effort,
            "bitdepth": self.avif_bitdepth,
            "tune": self.avif_tune,
        }


ENCODER = EncoderSettings()


def encode(
    image: pyvips.Image,
    fmt: OutputFormat,
    *,
    jpeg_quality: int = 85,
    settings: EncoderSettings = ENCODER,
    encoding: Encoding = "fast",
) -> bytes:
    """A resized picture as a thumbnail file: no metadata; alpha kept where the format
    has it (JPEG gets the picture on white); AVIF at the ``encoding``'s setting."""
    image = _to_8bit(image)
    if fmt == "jpeg":
        if image.hasalpha():
            image = image.flatten(background=[255] * (image.bands - 1))
        # Default Huffman tables: optimize_coding would double the encode time of a
        # thumbnail to save about 1.5 % of its bytes (see BENCHMARKS.md).
        return cast(bytes, image.jpegsave_buffer(Q=jpeg_quality, keep="none"))
    if fmt == "webp":
        return cast(bytes, image.webpsave_buffer(**settings.webp_options(), keep="none"))
    if fmt == "avif":
        options = settings.avif_options(encoding)
        return cast(bytes, image.heifsave_buffer(**options, keep="none"))
    return cast(
        bytes, image.pngsave_buffer(compression=_PNG_COMPRESSION, filter=_PNG_FILTERS, keep="none")
    )


def _jpeg_shrink(info: ImageInfo, target: tuple[int, int]) -> int:
    """The largest DCT scale (1/8, 1/4, 1/2) to decode at for a ``target`` thumbnail.

    libjpeg then skips most of the inverse DCT and colour work, and the resize starts
    from a quarter, a sixteenth or a sixty-fourth of the pixels. The decode must cover
    the target, and leave the Lanczos resize a factor of 1.5 at least: a DCT-scaled
    decode is close to a box filter, and at a smaller factor (1080p to 400 px at 1/2)
    the thumbnail visibly departs from one made from a full decode (BENCHMARKS.md).
    The scale applies to both sides alike, so turned or not gives the same answer.
    """
    width, height = target
    for shrink in (8, 4, 2):
        if info.width >= shrink * width and 2 * info.height >= 3 * shrink * height:
            return shrink
    return 1


def _validation_shrink(info: ImageInfo) -> int:
    """The smallest DCT scale that leaves at least a pixel each way (libvips needs one)."""
    return next(s for s in (8, 4, 2, 1) if min(info.width, info.height) >= s)


def _colour_options(image: pyvips.Image) -> dict[str, str]:
    # Only an embedded profile (or CMYK ink) needs a transform: an sRGB-to-sRGB one
    # costs as much as the resize for nothing.
    if image.get_typeof("icc-profile-data") or image.interpretation == "cmyk":
        return {"output_profile": "srgb"}
    return {}


class _Deadline:
    """The time budget of one decode, enforced inside libvips: when it runs out, a timer
    sets the kill flag of the images being decoded, and libvips fails their computation
    at the next region it prepares (within milliseconds)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._images: list[pyvips.Image] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for image in self._images:
                image.set_kill(True)

    def watch(self, *images: pyvips.Image) -> None:
        with self._lock:
            self._images.extend(images)
            if self.expired:
                for image in images:
                    image.set_kill(True)

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            self._images.clear()


@contextmanager
def _decode_slot() -> Iterator[None]:
    """One of the process's decode slots (see ``configure``): held for the decode only."""
    with _decode_slots:
        yield


@dataclass(frozen=True)
class Processed:
    """What one decode of an upload produced."""

    info: ImageInfo
    # One per tier height asked for, keyed by that height.
    thumbnails: dict[int, Rendered]
    # The smallest thumbnail's pixels (8-bit sRGB, alpha kept, in memory): what a
    # placeholder or a dominant colour is computed from, for a few milliseconds more.
    # None when no height was asked for.
    smallest: pyvips.Image | None


def process(
    data: bytes,
    *,
    limits: Limits,
    heights: Sequence[int] = (),
    jpeg_quality: int = 85,
    fmt: OutputFormat | None = None,
    encoding: Encoding = "fast",
) -> Processed:
    """Validate ``data`` and make a thumbnail per tier height, from one decode.

    Raises a subclass of :class:`ImageRejected` (with the user's message) if the bytes
    are not an accepted image, are over a limit or budget, or do not decode to the end.

    The decode is shrunk on load as far as the largest thumbnail allows (JPEG: 1/2, 1/4,
    1/8 DCT scale; a PNG cannot be decoded for less than every pixel) and streamed top to
    bottom into that thumbnail, EXIF orientation applied and colour converted to sRGB;
    the smaller heights are reduced from it, and all are encoded as ``fmt`` (default: the
    input's format; AVIF at the ``encoding``'s setting). JPEG warnings refuse the file: libjpeg
    reports damaged picture data ("Corrupt JPEG data") only as a warning and paints the
    gap grey. It reports it at every DCT scale alike (docs/decode.md), so validating at
    the thumbnail's scale is as strict as at full scale. Metadata is stripped from
    thumbnails; the output format follows the input; alpha is kept.
    """
    with _decode_slot():
        prepared = _prepare(data, limits)
        info = prepared.info
        sizes = {h: thumbnail_size(info.width, info.height, h) for h in heights}
        targets = sorted(set(sizes.values()), key=lambda s: s[1], reverse=True)
        largest = _decode_pass(prepared, targets[0] if targets else None, limits)
    if largest is None:
        return Processed(info=info, thumbnails={}, smallest=None)
    rendered: dict[tuple[int, int], Rendered] = {}
    for index, (width, height) in enumerate(targets):
        image = largest
        if index:
            # In memory: its encoder and the placeholder then read pixels resized once.
            image = largest.thumbnail_image(width, height=height, size="force").copy_memory()
        smallest = _to_8bit(image)
        rendered[width, height] = Rendered(
            encode(smallest, fmt or info.format, jpeg_quality=jpeg_quality, encoding=encoding),
            width,
            height,
        )
    return Processed(
        info=info,
        thumbnails={h: rendered[size] for h, size in sizes.items()},
        smallest=smallest,
    )


class _LoaderWarnings(logging.Handler):
    """libvips's warnings, collected per thread while a decode runs.

    libjpeg reports damaged picture data as a warning, and libvips (``fail_on="warning"``)
    fails the read on it, except when the damage is met in the very last rows read: then
    libvips only logs "read gave N warnings" when the loader closes, in the thread that
    drops its last reference. A decode shrunk on load for a thumbnail reads its last rows
    in one go more often than a full-scale one (tests/images/test_decode_strictness.py).

    Two things make the capture deterministic (docs/decode.md):

    - the pass closes its loader itself, inside the window, by dropping the last
      reference in its own thread (``_release``: checked, not assumed);
    - the window opens only once a WARNING sent through the ``pyvips`` logger, as pyvips
      forwards libvips's, is known to reach this handler: logging set up again since (a
      handler removed, the logger disabled or raised above WARNING by a framework's
      setup) is repaired, and what cannot be (``logging.disable``, a filter) fails the
      decode loudly instead of letting damaged files through.
    """

    _PROBE = "pixtier: is the libvips warning channel open?"

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        collected: list[str] | None = getattr(self._local, "messages", None)
        if collected is not None:
            collected.append(record.getMessage())

    def attach(self) -> None:
        """Make sure the loader's warnings reach this handler (logging may have been
        configured again since, e.g. by a framework's setup)."""
        vips_log = logging.getLogger("pyvips")
        if self not in vips_log.handlers:
            vips_log.addHandler(self)
        if vips_log.getEffectiveLevel() > logging.WARNING:
            vips_log.setLevel(logging.WARNING)
        vips_log.disabled = False

    def _reaches_me(self) -> bool:
        """Would a WARNING that pyvips forwards from libvips get here? The decisions
        ``Logger.log`` takes, in its order, for a record like the loader's."""
        vips_log = logging.getLogger("pyvips")
        probe = vips_log.makeRecord("pyvips", logging.WARNING, __file__, 0, self._PROBE, (), None)
        return (
            pyvips.logger is vips_log
            and vips_log.isEnabledFor(logging.WARNING)  # levels, and logging.disable
            and not vips_log.disabled
            and bool(vips_log.filter(probe))
            and self in vips_log.handlers
            and self.level <= logging.WARNING
        )

    @contextmanager
    def collecting(self) -> Iterator[list[str]]:
        self.attach()
        if not self._reaches_me():
            raise RuntimeError(
                "libvips's warnings do not reach the decode (logging of 'pyvips' is "
                "disabled or filtered): JPEG damage in the last rows would go unseen."
            )
        messages: list[str] = []
        self._local.messages = messages
        try:
            yield messages
        finally:
            self._local.messages = None


_loader_warnings = _LoaderWarnings()
# How long ``_release`` waits for libvips to let go of a loader (it never has to here:
# the computation has finished, and its threads have released their regions).
_RELEASE_SECONDS = 1.0


def _release(loader: pyvips.Image) -> None:
    """Drop the caller's reference to ``loader``, checked to be the last one, so the
    loader closes now, in this thread (and its end-of-read warnings are emitted here)."""
    count = pyvips.ffi.cast("GObject *", loader.pointer)
    waited = 0.0
    while count.ref_count > 1 and waited < _RELEASE_SECONDS:
        time.sleep(0.001)
        waited += 0.001
    if count.ref_count > 1:
        raise RuntimeError("libvips still holds the decoded file's loader after the decode.")


def _decode_pass(
    prepared: _Prepared, target: tuple[int, int] | None, limits: Limits
) -> pyvips.Image | None:
    """Decode every pixel once under the time budget; the ``target`` thumbnail in memory
    (None without a target: the decode only validates)."""
    name = prepared.info.format.upper()
    if pyvips.cache_get_max():
        # ``configure`` turns libvips's operation cache off for the process; without it
        # (a script, a shell) the cache would hold the loader, which then closes long
        # after the pass, its warnings unseen.
        pyvips.cache_set_max(0)
    with _loader_warnings.collecting() as warnings:
        try:
            largest = _decode(prepared, target, limits.max_decode_seconds)
        except _TimedOut as exc:
            raise OverBudget(
                f"Decoding the {name} took longer than the {limits.max_decode_seconds:g} s "
                f"allowed for one image."
            ) from exc.__cause__
        except pyvips.Error as exc:
            raise CorruptImage(
                f"The {name} file is truncated or corrupt and cannot be decoded."
            ) from exc
    if prepared.info.format == "jpeg" and any("read gave" in w for w in warnings):
        raise CorruptImage(f"The {name} file is truncated or corrupt and cannot be decoded.")
    return largest


class _TimedOut(Exception):
    """The decode's time budget ran out (libvips was told to stop)."""


def _decode(
    prepared: _Prepared, target: tuple[int, int] | None, seconds: float
) -> pyvips.Image | None:
    info = prepared.info
    if info.format == "jpeg":
        # Without a thumbnail to make, the smallest scale validates just as well.
        shrink = _jpeg_shrink(info, target) if target else _validation_shrink(info)
        source = _load(
            prepared.decodable, "jpeg", fail_on="warning", shrink=shrink, access="sequential"
        )
    else:
        source = _load(prepared.decodable, "png", access="sequential")
    largest: pyvips.Image | None = None
    thumbnail: pyvips.Image | None = None
    deadline = _Deadline(seconds)
    decoded = False
    try:
        with deadline:
            deadline.watch(source)
            if target is None:
                source.avg()
            else:
                width, height = target
                # thumbnail_image premultiplies alpha, resizes (box shrink, then Lanczos 3)
                # and turns the picture upright; the target size is the displayed one.
                thumbnail = source.thumbnail_image(
                    width, height=height, size="force", **_colour_options(source)
                )
                deadline.watch(thumbnail)
                largest = thumbnail.copy_memory()
        decoded = True
    except pyvips.Error as exc:
        # The traceback's frames hold the pipeline (pyvips's own ``self``): cleared, so
        # the refused file's loader closes here too, not in some later decode's window.
        traceback.clear_frames(exc.__traceback__)
        if deadline.expired:
            raise _TimedOut from exc
        raise
    finally:
        # Every reference to the pipeline goes here; after a decode, the loader's last.
        del thumbnail
        if decoded:
            _release(source)
        del source
    return largest


def make_thumbnails(
    data: bytes,
    *,
    heights: Sequence[int],
    limits: Limits = DEFAULT_LIMITS,
    jpeg_quality: int = 85,
    fmt: OutputFormat | None = None,
    encoding: Encoding = "fast",
) -> dict[int, Rendered]:
    """The thumbnails of ``heights`` as ``fmt`` at the ``encoding``'s setting:
    :func:`process` for its thumbnails."""
    return process(
        data,
        limits=limits,
        heights=heights,
        jpeg_quality=jpeg_quality,
        fmt=fmt,
        encoding=encoding,
    ).thumbnails


def inspect(data: bytes, *, limits: Limits) -> ImageInfo:
    """Validate ``data`` (a whole decode at the smallest scale), making no thumbnail."""
    return process(data, limits=limits).info


def demo_image(width: int, height: int, *, fmt: Format = "jpeg") -> bytes:
    """A colourful test card for demo data (no client bytes involved)."""
    x = pyvips.Image.xyz(width, height)
    red = x[0] * (255 / max(1, width - 1))
    green = x[1] * (255 / max(1, height - 1))
    blue = (x[0] + x[1]) % 256
    image = red.bandjoin([green, blue]).cast("uchar").copy(interpretation="srgb")
    return encode(image, fmt, jpeg_quality=85)


# --- Placeholders ---------------------------------------------------------------------
# Side (px) of the picture a placeholder is computed from when no thumbnail's pixels are
# at hand (images stored before placeholders existed): twice what the hash reads.
PLACEHOLDER_SOURCE_SIDE = 64


def placeholder_source(data: bytes, info: ImageInfo) -> pyvips.Image:
    """A stored original's picture, upright and sRGB, about ``PLACEHOLDER_SOURCE_SIDE``
    pixels on its longer side, from the cheapest decode (a JPEG at 1/8 scale)."""
    scale = PLACEHOLDER_SOURCE_SIDE / max(info.width, info.height)
    width = max(1, min(info.width, round(info.width * scale)))
    height = max(1, min(info.height, round(info.height * scale)))
    if info.format == "jpeg":
        source = _load(
            data, "jpeg", shrink=_jpeg_shrink(info, (width, height)), access="sequential"
        )
    else:
        source = _load(data, "png", access="sequential")
    image = source.thumbnail_image(width, height=height, size="force", **_colour_options(source))
    return _to_8bit(image).copy_memory()
