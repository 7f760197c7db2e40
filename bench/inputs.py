"""Reproducible photo-like inputs: gradients, soft and sharp shapes, grain. Seeded."""

import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


@dataclass(frozen=True)
class Input:
    name: str  # as the tables show it
    path: Path
    fmt: str  # "jpeg" or "png"
    stored: tuple[int, int]  # pixel size in the file
    orientation: int  # EXIF orientation (1 = upright)

    @property
    def displayed(self) -> tuple[int, int]:
        w, h = self.stored
        return (h, w) if self.orientation in (5, 6, 7, 8) else (w, h)

    @property
    def megapixels(self) -> float:
        return self.stored[0] * self.stored[1] / 1e6


def scene(width: int, height: int, *, seed: int, alpha: bool = False) -> Image.Image:
    """A photo-like picture: a sky-to-ground gradient with a vignette, blurred shapes
    (out-of-focus background), sharp shapes and text-like strokes (in focus), and
    mild Gaussian grain. The same seed gives the same pixels."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    # Background and soft shapes at a quarter of the size, then upscaled: smooth like a
    # defocused background, and cheap to make at 24 megapixels.
    sw, sh = max(8, width // 4), max(8, height // 4)
    y = np.linspace(0.0, 1.0, sh, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, sw, dtype=np.float32)[None, :]
    vignette = 1.0 - 0.5 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)
    sky = np.stack([70 + 120 * y + 0 * x, 120 + 80 * y + 0 * x, 220 - 60 * y + 0 * x], axis=-1)
    ground = np.stack([90 + 60 * x + 0 * y, 110 + 40 * y + 0 * x, 50 + 30 * x + 0 * y], axis=-1)
    horizon = 0.55 + 0.08 * np.sin(x * 9.0 + 1.3)
    base = np.where((y > horizon)[..., None], ground, sky) * vignette[..., None]
    small = Image.fromarray(base.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(small)
    for _ in range(40):
        cx, cy, r = pick.uniform(0, sw), pick.uniform(0, sh), pick.uniform(0.02, 0.15) * sw
        colour = tuple(pick.randrange(256) for _ in range(3))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    small = small.filter(ImageFilter.GaussianBlur(max(1.0, sw / 300)))
    picture = small.resize((width, height), Image.Resampling.BICUBIC)
    # In-focus detail at full size: sharp polygons and thin strokes.
    draw = ImageDraw.Draw(picture)
    for _ in range(60):
        cx, cy, r = pick.uniform(0, width), pick.uniform(0, height), pick.uniform(0.01, 0.06)
        points = [
            (cx + r * width * pick.uniform(-1, 1), cy + r * width * pick.uniform(-1, 1))
            for _ in range(pick.randrange(3, 7))
        ]
        draw.polygon(points, fill=tuple(pick.randrange(256) for _ in range(3)))
    for _ in range(120):
        x0, y0 = pick.uniform(0, width), pick.uniform(0, height)
        x1, y1 = x0 + pick.uniform(-0.1, 0.1) * width, y0 + pick.uniform(-0.1, 0.1) * height
        stroke = max(1, width // pick.choice((800, 1500, 3000)))
        draw.line((x0, y0, x1, y1), fill=tuple(pick.randrange(256) for _ in range(3)), width=stroke)
    # Texture with a natural image's spectrum (amplitude ~ 1/frequency: the same
    # contrast in every octave, from 256 px blotches to 2 px detail), built coarse to
    # fine by doubling, then sensor grain; row blocks keep memory flat at 24 megapixels.
    field = rng.normal(0.0, 4.0, (height // 256 + 2, width // 256 + 2)).astype(np.float32)
    for level in range(7, 0, -1):
        size = (width // 2**level + 2, height // 2**level + 2)
        field = np.asarray(
            Image.fromarray(field, "F").resize(size, Image.Resampling.BICUBIC), dtype=np.float32
        ) + rng.normal(0.0, 4.0, (size[1], size[0])).astype(np.float32)
    texture = np.asarray(
        Image.fromarray(field, "F").resize((width, height), Image.Resampling.BICUBIC),
        dtype=np.float32,
    )
    pixels = np.asarray(picture).copy()
    for top in range(0, height, 512):
        block = pixels[top : top + 512]
        grain = rng.normal(0.0, 2.5, block.shape[:2]).astype(np.float32)
        noise = (texture[top : top + 512] + grain)[..., None]
        pixels[top : top + 512] = (block + noise).clip(0, 255).astype(np.uint8)
    picture = Image.fromarray(pixels, "RGB")
    if alpha:
        # A soft-edged cut-out: opaque blob, transparent corners, a feathered edge.
        mask = Image.new("L", (sw, sh), 0)
        ImageDraw.Draw(mask).ellipse((sw * 0.1, sh * 0.1, sw * 0.9, sh * 0.9), fill=255)
        mask = mask.filter(ImageFilter.GaussianBlur(sw / 40)).resize((width, height))
        picture.putalpha(mask)
    return picture


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Pixtier bench"  # Make: metadata a thumbnail must drop
    return exif


def _save(image: Image.Image, fmt: str, orientation: int) -> bytes:
    out = io.BytesIO()
    if fmt == "jpeg":
        # What a phone writes: quality ~90, 4:2:0 chroma, EXIF with orientation.
        image.save(out, "JPEG", quality=90, subsampling="4:2:0", exif=_exif(orientation))
    else:
        image.save(out, "PNG", compress_level=6)
    return out.getvalue()


SPECS = [
    # name, format, stored size, orientation, alpha
    ("1080p JPEG", "jpeg", (1920, 1080), 1, False),
    ("12 MP JPEG", "jpeg", (4000, 3000), 1, False),
    # A portrait phone shot: stored landscape, EXIF says turn 90 degrees clockwise.
    ("24 MP JPEG (EXIF 6)", "jpeg", (6000, 4000), 6, False),
    ("12 MP RGB PNG", "png", (4000, 3000), 1, False),
    ("2000x2000 RGBA PNG", "png", (2000, 2000), 1, True),
]


def generate(directory: Path) -> list[Input]:
    inputs = []
    for seed, (name, fmt, size, orientation, alpha) in enumerate(SPECS, start=1):
        path = directory / f"input-{seed}.{'jpg' if fmt == 'jpeg' else 'png'}"
        path.write_bytes(_save(scene(*size, seed=seed, alpha=alpha), fmt, orientation))
        inputs.append(Input(name, path, fmt, size, orientation))
    return inputs
