"""The upload's one decode, shrunk on load, refuses every damaged JPEG that a full-scale
decode refuses (docs/decode.md): bit flips, zeroed runs and truncations of baseline,
progressive and restart-marker JPEGs, checked against a full-scale decode of each."""

import gc
import json
import logging
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import pyvips

from pixtier.images import processing
from tests.images.hostile_files import many_scan_jpeg

VARIANTS_PER_KIND = 40
ROOT = Path(__file__).resolve().parents[2]


def _photo(width: int, height: int) -> pyvips.Image:
    """Smooth gradients with noise: entropy-coded data of a realistic density."""
    xyz = pyvips.Image.xyz(width, height)
    smooth = (xyz[0] * 200 / width + xyz[1] * 50 / height).cast("uchar")
    noise = pyvips.Image.gaussnoise(width, height, sigma=12, seed=14)
    return (smooth + noise).cast("uchar").bandjoin([smooth, smooth]).copy(interpretation="srgb")


def _encoded(**options: object) -> bytes:
    data: bytes = _photo(800, 600).jpegsave_buffer(Q=85, **options)
    return data


KINDS: dict[str, Callable[[], bytes]] = {
    "baseline": lambda: _encoded(),
    "progressive": lambda: _encoded(interlace=True),
    "restart-markers": lambda: _encoded(restart_interval=4),
}


def _damage(data: bytes, rng: random.Random) -> bytes:
    """One damage somewhere after the headers (the first 600 bytes)."""
    start = 600 + rng.randrange(len(data) - 600)
    damage = bytearray(data)
    kind = rng.choice(["flip", "zeros", "truncate"])
    if kind == "flip":
        damage[start] ^= 1 << rng.randrange(8)
    elif kind == "zeros":
        run = rng.randrange(1, 64)
        damage[start : start + run] = bytes(len(damage[start : start + run]))
    else:
        del damage[start:]
    return bytes(damage)


def _refused_at_full_scale(data: bytes) -> bool:
    try:
        pyvips.Image.jpegload_buffer(data, fail_on="warning", access="sequential").avg()
    except pyvips.Error:
        return True
    return False


def _refused_by_the_pass(data: bytes, height: int) -> bool:
    try:
        processing.process(data, limits=processing.Limits(), heights=[height])
    except processing.CorruptImage:
        return True
    return False


def compare(kind: str, height: int) -> dict[str, int]:
    """Damage ``VARIANTS_PER_KIND`` copies; count what each decode refuses."""
    processing.configure()
    rng = random.Random(f"{kind}-{height}")
    original = KINDS[kind]()
    counts = {"original_refused": int(_refused_by_the_pass(original, height)), "full": 0}
    counts.update(ours=0, missed=0)
    for _ in range(VARIANTS_PER_KIND):
        variant = _damage(original, rng)
        full, ours = _refused_at_full_scale(variant), _refused_by_the_pass(variant, height)
        counts["full"] += full
        counts["ours"] += ours
        counts["missed"] += full and not ours
    return counts


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("height", [75, 300], ids=["at-1/8-scale", "at-1/2-scale"])
def test_the_pass_refuses_whatever_a_full_scale_decode_refuses(kind: str, height: int) -> None:
    # In a process of its own, as a server process decodes, for isolation: once, within
    # this suite, libvips's end-of-read warnings stopped reaching the pass; the ways that
    # can happen are closed (the tests below; docs/decode.md) but the miss was never
    # reproduced alone.
    call = f"compare({kind!r}, {height})"
    script = f"import json; from {__name__} import compare; print(json.dumps({call}))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    counts = json.loads(done.stdout.strip().splitlines()[-1])

    assert counts["original_refused"] == 0
    assert counts["missed"] == 0, counts  # a full-scale decode refuses what the pass accepts
    # The damage is real: most variants are refused.
    assert counts["full"] >= VARIANTS_PER_KIND // 2


def test_the_hand_made_many_scan_jpeg_is_valid() -> None:
    """The hostile corpus's 883-scan JPEG is refused for its cost, not for damage: small,
    it decodes cleanly once the scan budget allows it."""
    data = many_scan_jpeg(64, 48, components=3)
    limits = processing.Limits(max_jpeg_scans=3000)

    made = processing.process(data, limits=limits, heights=[48])

    assert (made.info.width, made.info.height) == (64, 48)
    with pytest.raises(processing.OverBudget, match="more than 100 scans"):
        processing.process(data, limits=processing.Limits())


def _damaged(*, in_the_last_rows: bool) -> bytes:
    """A damaged baseline JPEG: one whose damage libvips reports only as its loader
    closes ("read gave 1 warnings", the case the warning capture is for), or one whose
    read fails."""
    original = KINDS["baseline"]()
    rng = random.Random("baseline-100")
    for _ in range(VARIANTS_PER_KIND):
        variant = _damage(original, rng)
        if not _refused_at_full_scale(variant):
            continue
        try:
            source = pyvips.Image.jpegload_buffer(
                variant, fail_on="warning", shrink=8, access="sequential"
            )
            source.thumbnail_image(100, height=75, size="force").copy_memory()
        except pyvips.Error:
            if not in_the_last_rows:
                return variant
            continue
        if in_the_last_rows:
            return variant
    raise AssertionError("no such variant")


@pytest.fixture
def pyvips_logging_reset() -> Iterator[logging.Logger]:
    vips_log = logging.getLogger("pyvips")
    handlers, level, disabled = list(vips_log.handlers), vips_log.level, vips_log.disabled
    yield vips_log
    vips_log.handlers[:] = handlers
    vips_log.setLevel(level)
    vips_log.disabled = disabled
    logging.disable(logging.NOTSET)


def test_damage_in_the_last_rows_is_refused_whatever_logging_was_set_up_since(
    pyvips_logging_reset: logging.Logger,
) -> None:
    data = _damaged(in_the_last_rows=True)
    # As a framework's logging setup may leave it (dictConfig's disable_existing_loggers,
    # which would disable every other logger of this test run too): our handler gone, the
    # logger off.
    pyvips_logging_reset.disabled = True
    pyvips_logging_reset.handlers.clear()
    pyvips_logging_reset.setLevel(logging.ERROR)

    with pytest.raises(processing.CorruptImage):
        processing.process(data, limits=processing.Limits(), heights=[75])


@pytest.mark.parametrize("in_the_last_rows", [True, False], ids=["at-close", "read-fails"])
def test_a_refused_file_closes_with_its_refusal_not_later(
    pyvips_logging_reset: logging.Logger, in_the_last_rows: bool
) -> None:
    # Were the refused decode's loader to close only when its exception is collected,
    # its "read gave N warnings" would land in whatever decode runs then, and refuse
    # that one's file.
    damaged = _damaged(in_the_last_rows=in_the_last_rows)
    with pytest.raises(processing.CorruptImage) as refused:
        processing.process(damaged, limits=processing.Limits(), heights=[75])
    later: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: later.append(record.getMessage())  # type: ignore[method-assign]
    pyvips_logging_reset.addHandler(handler)

    del refused
    gc.collect()

    assert not [message for message in later if "read gave" in message]


def test_the_decode_fails_loudly_when_warnings_cannot_reach_it(
    pyvips_logging_reset: logging.Logger,
) -> None:
    logging.disable(logging.WARNING)

    with pytest.raises(RuntimeError, match="warnings do not reach the decode"):
        processing.process(KINDS["baseline"](), limits=processing.Limits(), heights=[75])


def test_damage_in_the_last_rows_is_refused_with_libvips_cache_left_on() -> None:
    # As in a script that never called processing.configure(): the operation cache would
    # hold the loader past the pass.
    pyvips.cache_set_max(100)
    try:
        with pytest.raises(processing.CorruptImage):
            processing.process(
                _damaged(in_the_last_rows=True), limits=processing.Limits(), heights=[75]
            )
    finally:
        pyvips.cache_set_max(0)
