"""What a client paints before a thumbnail arrives: a BlurHash and a dominant colour.

Both are computed from pixels ``pixtier.images.processing`` has already decoded (the
smallest thumbnail of an upload), never from client bytes: a few thousand pixels, well
about a millisecond. The hash is ``blurhash-rs`` (the Rust ``blurhash`` crate): typed,
kept up, and 13 us for a hash where Wolt's C binding (``blurhash-python``) takes 0.7 ms,
mostly copying pixels into Python lists through an API Pillow is removing.
"""

import math
from dataclasses import dataclass

import pyvips
from blurhash_rs import blurhash_encode
from PIL import Image as PILImage

# The hash is made from a copy this small (on its longer side): a BlurHash keeps only
# the lowest spatial frequencies, so more pixels change nothing a client can see and
# cost time (the encoder visits every pixel once per component).
HASH_SIDE = 32
# Components in all, shared out between the axes by the aspect ratio: 4x4 for a square,
# 5x3 for 4:3 or 16:9, 9x1 for a wide panorama. The hash is 6 + 2 x (components - 1)
# characters: about 34.
COMPONENTS = 16
# Transparent parts are painted on white before hashing (a BlurHash has no alpha, and
# the colour under a transparent pixel is arbitrary); the dominant colour ignores them.
_BACKGROUND = (255, 255, 255)
# Pixels at least this opaque (of 255) count towards the dominant colour.
_OPAQUE = 128
# Colours are binned by their top bits per channel (8 levels: 512 bins) to find the
# most common one; the answer is the mean of that bin, not the bin's corner.
_BIN_BITS = 3


@dataclass(frozen=True)
class Placeholder:
    blurhash: str
    dominant_color: str  # "#rrggbb", lower case


def components(width: int, height: int) -> tuple[int, int]:
    """BlurHash component counts (x, y) for a picture of this aspect ratio, each 1..9."""
    aspect = width / height
    x = round(math.sqrt(COMPONENTS * aspect))
    y = round(math.sqrt(COMPONENTS / aspect))
    return min(9, max(1, x)), min(9, max(1, y))


def _pixels(image: pyvips.Image) -> PILImage.Image:
    """The picture as 8-bit sRGB(A) in Pillow, at most ``HASH_SIDE`` pixels a side.

    Pillow reduces it: on a few thousand pixels a libvips pipeline costs more in thread
    hand-offs (about 1 ms) than Pillow's whole box filter (0.1 ms). Pillow premultiplies
    alpha when it resizes, so colour under transparent pixels does not bleed in.
    """
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    mode = "RGBA" if image.bands == 4 else "RGB"
    pixels = PILImage.frombuffer(
        mode, (image.width, image.height), bytes(image.write_to_memory()), "raw", mode, 0, 1
    )
    scale = HASH_SIDE / max(image.width, image.height)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        pixels = pixels.resize(size, PILImage.Resampling.BOX)
    return pixels


def placeholder(image: pyvips.Image) -> Placeholder:
    """The BlurHash and dominant colour of a decoded, upright picture (any size; meant
    for a small one, such as the smallest thumbnail)."""
    small = _pixels(image)
    if small.mode == "RGBA":
        opaque = PILImage.new("RGB", small.size, _BACKGROUND)
        opaque.paste(small, mask=small.getchannel("A"))
    else:
        opaque = small
    x, y = components(image.width, image.height)
    return Placeholder(
        blurhash=blurhash_encode(opaque, x_components=x, y_components=y),
        dominant_color=_dominant(small),
    )


def _dominant(small: PILImage.Image) -> str:
    data = small.tobytes()
    bands = len(small.getbands())
    shift = 8 - _BIN_BITS
    sums: dict[int, list[int]] = {}
    for offset in range(0, len(data), bands):
        if bands == 4 and data[offset + 3] < _OPAQUE:
            continue
        r, g, b = data[offset], data[offset + 1], data[offset + 2]
        key = (r >> shift) << (2 * _BIN_BITS) | (g >> shift) << _BIN_BITS | (b >> shift)
        total = sums.setdefault(key, [0, 0, 0, 0])
        total[0] += r
        total[1] += g
        total[2] += b
        total[3] += 1
    if not sums:
        return "#ffffff"  # fully transparent: the background it would be shown on
    r, g, b, count = max(sums.values(), key=lambda total: total[3])
    return "#{:02x}{:02x}{:02x}".format(*(round(c / count) for c in (r, g, b)))
