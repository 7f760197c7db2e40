"""What every part of the bench shares: statistics, SSIM, memory, and the machine."""

import datetime
import os
import platform
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (what wrk reports), ``fraction`` in 0..1."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def peak_rss_kib() -> int:
    """This process's peak resident set size so far (VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


# --- SSIM ---------------------------------------------------------------------------------


def _gaussian_window(sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    window = np.exp(-(x**2) / (2 * sigma**2))
    return np.asarray(window / window.sum())


def _blur(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter over the 'valid' region (no padding), like skimage."""
    n = len(window)
    rows = sum(window[k] * image[k : image.shape[0] - n + 1 + k, :] for k in range(n))
    return np.asarray(sum(window[k] * rows[:, k : rows.shape[1] - n + 1 + k] for k in range(n)))


def luma(pixels: np.ndarray) -> np.ndarray:
    """BT.601 luma of an H x W x {1,3,4} uint8 array; alpha composited over mid grey."""
    values = pixels.astype(np.float64)
    if values.ndim == 2:
        return values
    if values.shape[2] in (2, 4):
        alpha = values[..., -1:] / 255.0
        values = values[..., :-1] * alpha + 128.0 * (1 - alpha)
    if values.shape[2] == 1:
        return values[..., 0]
    return 0.299 * values[..., 0] + 0.587 * values[..., 1] + 0.114 * values[..., 2]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03, L 255)
    of the luma of two same-sized images."""
    if a.shape[:2] != b.shape[:2]:
        return 0.0
    x, y = luma(a), luma(b)
    window = _gaussian_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _blur(x, window), _blur(y, window)
    sxx = _blur(x * x, window) - mx * mx
    syy = _blur(y * y, window) - my * my
    sxy = _blur(x * y, window) - mx * my
    value = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return float(value.mean())


# --- The machine --------------------------------------------------------------------------


def _command_version(args: list[str]) -> str:
    if shutil.which(args[0]) is None:
        return "not installed"
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def machine() -> dict[str, Any]:
    import django
    import PIL
    import pyvips

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "pyvips": pyvips.__version__,
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "django": django.get_version(),
        "postgresql": _command_version(["psql", "--version"]),
        "nginx": _command_version(["nginx", "-v"]),
        "wrk": _command_version(["wrk", "--version"]),
        "load_average": " / ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
