"""Part 1: the thumbnail pipeline, side by side with a naive Pillow baseline, a pyvips
shrink-on-load reference and the decode floor; time, peak memory and output quality.

``python -m bench.thumbs --rss METHOD INPUT.json`` is the fresh process that measures one
method's peak memory.
"""

import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyvips
from PIL import Image, ImageOps

from bench.common import median, peak_rss_kib, ssim
from bench.inputs import Input
from pixtier.images import processing

HEIGHTS = [200, 400]  # Enterprise
QUALITY = 85  # THUMBNAIL_JPEG_QUALITY's default, for every method
RUNS = 11  # timed runs per method and input, after one warm-up

Outputs = dict[int, bytes]


def _sizes(inp: Input) -> dict[int, tuple[int, int]]:
    return {h: processing.thumbnail_size(*inp.displayed, h) for h in HEIGHTS}


def run_pixtier(data: bytes, inp: Input) -> Outputs:
    made = processing.process(
        data, limits=processing.Limits(), heights=HEIGHTS, jpeg_quality=QUALITY
    ).thumbnails
    return {h: thumb.data for h, thumb in made.items()}


def run_naive(data: bytes, inp: Input) -> Outputs:
    """What a first implementation does: decode everything, turn upright, LANCZOS."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    out = {}
    for height, size in _sizes(inp).items():
        small = image.resize(size, Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        if inp.fmt == "jpeg":
            small.save(buffer, "JPEG", quality=QUALITY)
        else:
            small.save(buffer, "PNG")
        out[height] = buffer.getvalue()
    return out


def run_pyvips(data: bytes, inp: Input) -> Outputs:
    """libvips used the documented way: thumbnail_buffer (its own shrink-on-load choice)
    for the largest, thumbnail_image from it for the rest, default encoder settings."""
    sizes = _sizes(inp)
    largest = max(HEIGHTS)
    base = pyvips.Image.thumbnail_buffer(
        data, sizes[largest][0], height=sizes[largest][1], size="force"
    ).copy_memory()
    out = {}
    for height, (width, h) in sizes.items():
        image = base if height == largest else base.thumbnail_image(width, height=h, size="force")
        if inp.fmt == "jpeg":
            out[height] = image.jpegsave_buffer(Q=QUALITY, keep="none")
        else:
            out[height] = image.pngsave_buffer(keep="none")
    return out


def floor_shrink(inp: Input) -> int:
    """The DCT scale that still covers the largest thumbnail (JPEG); 1 for PNG."""
    if inp.fmt != "jpeg":
        return 1
    width, height = _sizes(inp)[max(HEIGHTS)]
    dw, dh = inp.displayed
    return next((s for s in (8, 4, 2) if dw >= s * width and dh >= s * height), 1)


def run_floor(data: bytes, inp: Input) -> Outputs:
    """Decoding alone: JPEG at the DCT scale that covers the largest thumbnail, PNG in
    full; every pixel is produced (avg() reads them all), nothing is resized or encoded."""
    if inp.fmt == "jpeg":
        image = pyvips.Image.jpegload_buffer(data, shrink=floor_shrink(inp), access="sequential")
    else:
        image = pyvips.Image.pngload_buffer(data, access="sequential")
    image.avg()
    return {}


METHODS: dict[str, Callable[[bytes, Input], Outputs]] = {
    "pixtier": run_pixtier,
    "naive": run_naive,
    "pyvips": run_pyvips,
    "floor": run_floor,
}


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def _quality(inp: Input, data: bytes, outputs: dict[str, Outputs]) -> dict[str, Any]:
    """SSIM of Pixtier's (and the reference's) thumbnails vs the naive LANCZOS ones, the
    sizes, and whether anything of the original's metadata survived.

    ``ssim`` compares the delivered files, both JPEG/PNG-encoded (the target);
    ``ssim_exact`` compares Pixtier's file with the LANCZOS resize before any encoding,
    which shows how much of the difference is the encoder's rather than the resize's.
    """
    sizes = _sizes(inp)
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    exact = {h: np.asarray(upright.resize(sizes[h], Image.Resampling.LANCZOS)) for h in HEIGHTS}
    del upright
    result: dict[str, Any] = {
        "ssim": {},
        "ssim_pyvips": {},
        "ssim_exact": {},
        "ssim_naive_exact": {},
        "sizes_ok": True,
        "stripped": True,
    }
    for height in HEIGHTS:
        made = Image.open(io.BytesIO(outputs["pixtier"][height]))
        result["sizes_ok"] &= made.size == sizes[height]
        result["stripped"] &= not made.getexif() and "icc_profile" not in made.info
        naive = _pixels(outputs["naive"][height])
        pixtier = _pixels(outputs["pixtier"][height])
        result["ssim"][height] = ssim(pixtier, naive)
        result["ssim_pyvips"][height] = ssim(_pixels(outputs["pyvips"][height]), naive)
        result["ssim_exact"][height] = ssim(pixtier, exact[height])
        result["ssim_naive_exact"][height] = ssim(naive, exact[height])
    # Upright: the naive result went through ImageOps.exif_transpose; a thumbnail that kept
    # the stored orientation would have the wrong size and a low SSIM against it.
    result["upright"] = result["sizes_ok"] and min(result["ssim"].values()) >= 0.9
    result["bytes"] = {name: sum(len(b) for b in out.values()) for name, out in outputs.items()}
    return result


def _rss(method: str, inp: Input) -> dict[str, float]:
    """Peak RSS of ``method`` in a fresh interpreter, above that interpreter's own peak
    once the libraries are imported and the input is read."""
    spec = json.dumps({**asdict(inp), "path": str(inp.path)})
    done = subprocess.run(
        [sys.executable, "-m", "bench.thumbs", "--rss", method, spec],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    numbers = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "baseline_mib": numbers["baseline"] / 1024,
        "peak_mib": numbers["peak"] / 1024,
        "above_mib": (numbers["peak"] - numbers["baseline"]) / 1024,
    }


def measure(inputs: list[Input], *, runs: int = RUNS) -> list[dict[str, Any]]:
    processing.configure()
    results = []
    for inp in inputs:
        data = inp.path.read_bytes()
        wall: dict[str, list[float]] = {name: [] for name in METHODS}
        cpu: dict[str, list[float]] = {name: [] for name in METHODS}
        outputs: dict[str, Outputs] = {}
        # Interleaved: each round runs every method once, so a burst of load from other
        # processes on the machine hits all of them alike.
        for round_ in range(runs + 1):
            for name, method in METHODS.items():
                started, started_cpu = time.perf_counter(), time.process_time()
                outputs[name] = method(data, inp)
                if round_:
                    wall[name].append((time.perf_counter() - started) * 1000)
                    cpu[name].append((time.process_time() - started_cpu) * 1000)
        results.append(
            {
                "input": inp.name,
                "format": inp.fmt,
                "stored": inp.stored,
                "displayed": inp.displayed,
                "orientation": inp.orientation,
                "file_bytes": len(data),
                "floor_shrink": floor_shrink(inp),
                "runs": runs,
                "ms": {name: median(values) for name, values in wall.items()},
                "cpu_ms": {name: median(values) for name, values in cpu.items()},
                "rss": {name: _rss(name, inp) for name in METHODS},
                **_quality(inp, data, outputs),
            }
        )
        print(
            f"  {inp.name}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in results[-1]["ms"].items())
        )
    return results


def _rss_main(method: str, spec: str) -> None:
    fields = json.loads(spec)
    fields["path"] = Path(fields["path"])
    fields["stored"] = tuple(fields["stored"])
    inp = Input(**fields)
    processing.configure()
    data = inp.path.read_bytes()
    baseline = peak_rss_kib()
    for _ in range(3):
        METHODS[method](data, inp)
    print(json.dumps({"baseline": baseline, "peak": peak_rss_kib()}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--rss":
        _rss_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: python -m bench.thumbs --rss METHOD INPUT_JSON (python -m bench runs all)")
