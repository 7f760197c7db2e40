"""Real photographs for the bench: the ones scikit-image ships inside its wheel.

The wheel is fetched from PyPI with pip (pinned, no dependencies, nothing installed) and
cached under var/corpus/, like `make corpus` fetches Pillow's test images; the pictures are
never committed. Only the files inside the wheel are used (scikit-image downloads its other
data sets at run time; not these). They are small (0.1 to 0.4 megapixels), so the 400 px
thumbnail of the shorter ones is the picture itself, re-encoded.
"""

import subprocess
import sys
import zipfile
from pathlib import Path

from PIL import Image

from bench.common import REPO
from bench.inputs import Input

VERSION = "0.25.2"
CACHE = REPO / "var" / "corpus"
# Colour photographs of everyday subjects (the wheel's others are greyscale, microscopy,
# astronomy or drawn).
PHOTOS = {
    "astronaut.png": "astronaut (portrait)",
    "chelsea.png": "chelsea (cat, fur)",
    "coffee.png": "coffee (still life)",
    "motorcycle_left.png": "motorcycle (indoor)",
    "rocket.jpg": "rocket (outdoor, JPEG)",
}


def _wheel() -> Path:
    found = sorted(CACHE.glob(f"scikit_image-{VERSION}-*.whl"))
    if found:
        return found[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
         ":all:", "--dest", str(CACHE), f"scikit-image=={VERSION}"],
        check=True,
    )  # fmt: skip
    found = sorted(CACHE.glob(f"scikit_image-{VERSION}-*.whl"))
    if not found:
        raise RuntimeError(f"pip fetched no scikit-image {VERSION} wheel into {CACHE}")
    return found[0]


def fetch() -> list[Input]:
    """The photographs, extracted once into var/corpus/skimage-<version>/."""
    directory = CACHE / f"skimage-{VERSION}"
    missing = [name for name in PHOTOS if not (directory / name).is_file()]
    if missing:
        directory.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(_wheel()) as wheel:
            for name in missing:
                (directory / name).write_bytes(wheel.read(f"skimage/data/{name}"))
    photos = []
    for name, title in PHOTOS.items():
        path = directory / name
        with Image.open(path) as opened:
            size = opened.size
        fmt = "jpeg" if path.suffix == ".jpg" else "png"
        photos.append(Input(title, path, fmt, size, 1))
    return photos
