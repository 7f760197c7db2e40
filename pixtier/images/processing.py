"""The only module that touches image bytes: identify, validate and make thumbnails.

Bytes in, bytes out; no Django models or storage here. Only the JPEG and PNG loaders of
libvips ever decode client data; every other format is named from its signature and
refused before any pixel is read.
"""

from dataclasses import dataclass
from typing import Literal, cast

import pyvips

from pixtier.common.exceptions import CorruptImage, ImageTooLarge, UnsupportedImage

Format = Literal["jpeg", "png"]  # what uploads may be
# What thumbnails may be: the original's format, or one a client negotiates (SPEC 10).
OutputFormat = Literal["jpeg", "png", "webp", "avif"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("jpeg", "png", "webp", "avif")

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


def configure() -> None:
    """Process-wide libvips settings: no untrusted loaders, no cache of decoded images."""
    pyvips.block_untrusted_set(True)
    pyvips.cache_set_max(0)


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
}
_BINARY = "binary data that is not an image format we recognise"
# Control characters other than tab, line feed, form feed and carriage return: not text.
_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13}) + b"\x7f"


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
    sample = data[:4096]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return _BINARY
    if any(byte in _CONTROL for byte in sample):
        return _BINARY
    return "text, not an image"


def _load(data: bytes, fmt: Format, *, fail_on: str = "error", **options: object) -> pyvips.Image:
    loader = pyvips.Image.jpegload_buffer if fmt == "jpeg" else pyvips.Image.pngload_buffer
    return loader(data, fail_on=fail_on, **options)


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


def inspect(data: bytes, *, max_pixels: int, max_dimension: int) -> ImageInfo:
    """Validate an upload: accepted format, within limits (from the header), fully decodable.

    Raises a subclass of :class:`pixtier.common.exceptions.ImageRejected` with a message for
    the user.
    """
    fmt = identify(data)
    name = fmt.upper()
    try:
        header = _load(data, fmt)
        width, height = header.width, header.height
        orientation = header.get("orientation") if header.get_typeof("orientation") else 1
    except pyvips.Error as exc:
        raise CorruptImage(f"The file looks like a {name} but its header is corrupt.") from exc
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
            f"the limit is {max_pixels / 1e6:g} megapixels."
        )
    if max(width, height) > max_dimension:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; no side may exceed {max_dimension} pixels."
        )
    try:
        # Decode every pixel once, streamed top to bottom: truncation and corruption surface
        # here. JPEG is decoded at full scale and a warning refuses it: libjpeg reports a
        # damaged entropy-coded segment ("Corrupt JPEG data") only as a warning, paints the
        # gap grey, and does not report it at all when shrinking on load.
        fail_on = "warning" if fmt == "jpeg" else "error"
        _load(data, fmt, fail_on=fail_on, access="sequential").avg()
    except pyvips.Error as exc:
        raise CorruptImage(
            f"The {name} file is truncated or corrupt and cannot be decoded."
        ) from exc
    if orientation in _TRANSPOSING_ORIENTATIONS:
        width, height = height, width
    return ImageInfo(format=fmt, width=width, height=height)


def _to_8bit(image: pyvips.Image) -> pyvips.Image:
    if image.format == "uchar":
        return image
    grey = image.interpretation in ("b-w", "grey16")
    return image.colourspace("b-w" if grey else "srgb").cast("uchar")


@dataclass(frozen=True)
class EncoderSettings:
    """WebP and AVIF encoder settings, chosen by measurement (``python -m bench.formats``,
    docs/benchmarks/formats.md): the lowest quality whose thumbnails keep the JPEG
    thumbnail's SSIM on the photo-like bench inputs, at the effort that keeps a cold
    AVIF within 3x a cold JPEG."""

    # WebP Q84 is 6 % smaller but below the JPEG's SSIM at 400 px; effort 4 saves 5 % of
    # the bytes over effort 2. AVIF effort 1 would save 7 % of the bytes for 3.5x the
    # encode time, which puts a cold 400 px AVIF past 3x a cold JPEG; Q68 is below the
    # JPEG's SSIM.
    webp_quality: int = 85
    webp_effort: int = 4
    avif_quality: int = 70
    avif_effort: int = 0


ENCODER = EncoderSettings()


def encode(
    image: pyvips.Image,
    fmt: OutputFormat,
    *,
    jpeg_quality: int = 85,
    settings: EncoderSettings = ENCODER,
) -> bytes:
    """A resized picture as a thumbnail file: no metadata; alpha kept where the format
    has it (JPEG gets the picture on white)."""
    image = _to_8bit(image)
    if fmt == "jpeg":
        if image.hasalpha():
            image = image.flatten(background=[255] * (image.bands - 1))
        # Default Huffman tables: optimize_coding would double the encode time of a
        # thumbnail to save about 1.5 % of its bytes (see BENCHMARKS.md).
        return cast(bytes, image.jpegsave_buffer(Q=jpeg_quality, keep="none"))
    if fmt == "webp":
        return cast(
            bytes,
            image.webpsave_buffer(
                Q=settings.webp_quality, effort=settings.webp_effort, keep="none"
            ),
        )
    if fmt == "avif":
        return cast(
            bytes,
            image.heifsave_buffer(
                compression="av1",
                Q=settings.avif_quality,
                effort=settings.avif_effort,
                bitdepth=8,
                keep="none",
            ),
        )
    return cast(
        bytes, image.pngsave_buffer(compression=_PNG_COMPRESSION, filter=_PNG_FILTERS, keep="none")
    )


def _encode(image: pyvips.Image, fmt: OutputFormat, *, jpeg_quality: int) -> bytes:
    return encode(image, fmt, jpeg_quality=jpeg_quality)


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


def _decode(data: bytes, info: ImageInfo, target: tuple[int, int]) -> pyvips.Image:
    """The picture streamed from the file, shrunk on load as far as ``target`` allows
    (JPEG only: a PNG cannot be decoded for less than every pixel)."""
    if info.format == "jpeg":
        return _load(data, "jpeg", shrink=_jpeg_shrink(info, target), access="sequential")
    return _load(data, "png", access="sequential")


def _colour_options(image: pyvips.Image) -> dict[str, str]:
    # Only an embedded profile (or CMYK ink) needs a transform: an sRGB-to-sRGB one
    # costs as much as the resize for nothing.
    if image.get_typeof("icc-profile-data") or image.interpretation == "cmyk":
        return {"output_profile": "srgb"}
    return {}


def make_thumbnails(
    data: bytes,
    *,
    info: ImageInfo,
    heights: list[int],
    jpeg_quality: int = 85,
    fmt: OutputFormat | None = None,
) -> dict[int, Rendered]:
    """Decode once and make a thumbnail per tier height, keyed by that height.

    The largest is made from a decode shrunk on load as far as it allows, EXIF
    orientation applied and colour converted to sRGB; the smaller ones are reduced from
    it. Metadata is stripped; the format is ``fmt`` (default: the input's); alpha is kept.
    """
    out = fmt or info.format
    sizes = {h: thumbnail_size(info.width, info.height, h) for h in heights}
    targets = sorted(set(sizes.values()), key=lambda s: s[1], reverse=True)
    rendered: dict[tuple[int, int], Rendered] = {}
    base: pyvips.Image | None = None
    for width, height in targets:
        if base is None:
            source = _decode(data, info, (width, height))
            # thumbnail_image premultiplies alpha, resizes (box shrink, then Lanczos 3)
            # and turns the picture upright; the target size is the displayed one.
            image = source.thumbnail_image(
                width, height=height, size="force", **_colour_options(source)
            )
            if len(targets) > 1:
                # Small (the largest thumbnail), and read again for every other size.
                image = image.copy_memory()
            base = image
        else:
            image = base.thumbnail_image(width, height=height, size="force")
        rendered[width, height] = Rendered(
            _encode(image, out, jpeg_quality=jpeg_quality), width, height
        )
    return {h: rendered[size] for h, size in sizes.items()}


def demo_image(width: int, height: int, *, fmt: Format = "jpeg") -> bytes:
    """A colourful test card for demo data (no client bytes involved)."""
    x = pyvips.Image.xyz(width, height)
    red = x[0] * (255 / max(1, width - 1))
    green = x[1] * (255 / max(1, height - 1))
    blue = (x[0] + x[1]) % 256
    image = red.bandjoin([green, blue]).cast("uchar").copy(interpretation="srgb")
    return _encode(image, fmt, jpeg_quality=85)


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
