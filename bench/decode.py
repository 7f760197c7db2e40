"""Part "decode" (issue 14): the upload's one budgeted decode, before and after.

    .venv/bin/python -m bench.decode [--before DIR]

Each tree (this checkout, and with ``--before`` an extracted older one, e.g.
``git archive acc80f8 | tar -x -C DIR``) is measured by the same harness in a process of
its own (``bench/decode.py --measure``), in process through Django's test client on
SQLite with local files: the upload's own cost, not the network's. Per tree:

- 12 MP JPEG and 12 MP PNG, Enterprise (200 and 400 px): the upload's p50 and CPU, the
  thumbnail GETs' CPU, ``processing.process`` alone on the same bytes (validate + all
  thumbnails), beside a store-only upload (same request, ``default_storage.save`` only)
  and the decode floor (libvips decoding every pixel at the scale the 400 px thumbnail
  uses, nothing else); and where one upload's CPU goes, stage by stage;
- every hostile case: answer, wall time, CPU, peak memory growth (VmHWM reset per case),
  and /healthz's worst latency from another thread meanwhile;
- 8 interlaced 16-bit PNGs uploaded at once: peak memory growth.

Writes docs/benchmarks/decode.md. ``--uploads-only`` (with ``--before``) measures the
12 MP uploads alone, the trees alternating three times (ABABAB), and keeps the report's hostile
sections from the last full run.
"""

import functools
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RUNS = 9
ROUNDS = 3  # of the trees alternating, with --uploads-only


def _vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> int:
    """Reset the peak RSS (Linux: 5 into clear_refs); returns the RSS now, in KiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _vm_hwm_kib()


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def measure() -> dict[str, Any]:
    """Runs inside the tree being measured (cwd), with its own settings and database."""
    import django

    django.setup()
    import pyvips
    from django.core.management import call_command
    from rest_framework.test import APIClient

    call_command("migrate", verbosity=0)
    from django.conf import settings

    from pixtier.accounts.models import Tier, User

    sys.path.insert(0, str(REPO))  # the hostile files' generators, from this checkout
    from tests.images import hostile_files as hostile

    settings.PIXTIER_BACKGROUND = "off"
    user = User(username="bench", tier=Tier.objects.get(name="Enterprise"))
    user.set_unusable_password()
    user.save()
    client = APIClient()
    client.force_authenticate(user)

    def post(path: str, data: bytes, name: str) -> Any:
        from django.core.cache import cache
        from django.core.files.uploadedfile import SimpleUploadedFile

        # The upload throttle still runs, on an empty history: more uploads are measured
        # than its rate allows in a minute.
        cache.clear()
        file = SimpleUploadedFile(name, data, content_type="application/octet-stream")
        return client.post(path, {"file": file}, format="multipart")

    def photo(width: int, height: int) -> pyvips.Image:
        xyz = pyvips.Image.xyz(width, height)
        smooth = (xyz[0] * 200 / width + xyz[1] * 50 / height).cast("uchar")
        noise = pyvips.Image.gaussnoise(width, height, sigma=10, seed=3)
        picture = (smooth + noise).cast("uchar")
        return picture.bandjoin([smooth, 255 - smooth]).copy(interpretation="srgb")

    jpeg = photo(4000, 3000).jpegsave_buffer(Q=90)
    png = photo(4000, 3000).pngsave_buffer(compression=6)
    results: dict[str, Any] = {"inputs": {"jpeg": len(jpeg), "png": len(png)}}

    from pixtier.images import processing

    one_pass = hasattr(processing, "process")  # the tree after issue 14
    heights = sorted(user.tier.sizes.values_list("height", flat=True))

    def floor_decode(fmt: str, data: bytes, shrink: int) -> None:
        # The cheapest read of every pixel at that scale: no copy of the file first.
        source = pyvips.Source.new_from_memory(data)
        if fmt == "jpeg":
            pyvips.Image.jpegload_source(source, shrink=shrink, access="sequential").avg()
        else:
            pyvips.Image.pngload_source(source, access="sequential").avg()

    for fmt, data, shrink in (("jpeg", jpeg, 4), ("png", png, 1)):
        upload, ready, store, floor = [], [], [], []
        cpu, cpu_upload, cpu_gets, cpu_store, floor_cpu, pass_cpu = [], [], [], [], [], []
        for _ in range(RUNS):
            cpu0, started = time.process_time(), time.perf_counter()
            response = post("/api/v1/images/", data, f"a.{fmt}")
            upload.append((time.perf_counter() - started) * 1000)
            cpu_upload.append((time.process_time() - cpu0) * 1000)
            assert response.status_code == 201, response.content[:300]
            cpu1 = time.process_time()
            for thumb in response.json()["thumbnails"]:
                assert client.get(thumb["url"]).status_code == 200
            ready.append((time.perf_counter() - started) * 1000)
            cpu_gets.append((time.process_time() - cpu1) * 1000)
            cpu.append((time.process_time() - cpu0) * 1000)
            cpu0, started = time.process_time(), time.perf_counter()
            stored = post("/bench/store/", data, f"a.{fmt}")
            assert stored.status_code == 201, (stored.status_code, stored.content[:200])
            store.append((time.perf_counter() - started) * 1000)
            cpu_store.append((time.process_time() - cpu0) * 1000)
            cpu0, started = time.process_time(), time.perf_counter()
            floor_decode(fmt, data, shrink)
            floor.append((time.perf_counter() - started) * 1000)
            floor_cpu.append((time.process_time() - cpu0) * 1000)
            if one_pass:
                cpu0 = time.process_time()
                processing.process(data, limits=processing.Limits(), heights=heights)
                pass_cpu.append((time.process_time() - cpu0) * 1000)
        results[fmt] = {
            "upload_p50_ms": _median(upload[1:]),
            "ready_p50_ms": _median(ready[1:]),
            "store_only_p50_ms": _median(store[1:]),
            "cpu_per_upload_ms": _median(cpu[1:]),
            "cpu_upload_request_ms": _median(cpu_upload[1:]),
            "cpu_thumbnail_gets_ms": _median(cpu_gets[1:]),
            "cpu_store_only_ms": _median(cpu_store[1:]),
            "cpu_pass_ms": _median(pass_cpu[1:]) if pass_cpu else None,
            "decode_floor_ms": _median(floor[1:]),
            "decode_floor_cpu_ms": _median(floor_cpu[1:]),
            "floor_scale": f"1/{shrink}",
        }
        if one_pass:
            floor_here = functools.partial(floor_decode, fmt, data, shrink)
            results[fmt]["stages"] = _stages(post, data, fmt, floor_here)

    if os.environ.get("BENCH_DECODE_UPLOADS_ONLY"):
        return results
    small_png = photo(320, 240).pngsave_buffer()
    cases = {
        "883-scan greyscale progressive JPEG (7000x7000)": (
            hostile.many_scan_jpeg(7000, 7000),
            "jpg",
        ),
        "2647-scan colour progressive JPEG (7000x7000)": (
            hostile.many_scan_jpeg(7000, 7000, components=3),
            "jpg",
        ),
        "interlaced 16-bit RGBA PNG (7000x7000)": (
            hostile.interlaced_16_bit_png(7000, 7000),
            "png",
        ),
        "PNG with 8 zTXt chunks of 50 MB": (hostile.ztxt_bomb_png(small_png), "png"),
    }
    worst_health: list[float] = []
    stop = threading.Event()

    def probe_health() -> None:
        from django.test import Client

        probe = Client()
        while not stop.is_set():
            started = time.perf_counter()
            probe.get("/healthz")
            worst_health.append((time.perf_counter() - started) * 1000)
            time.sleep(0.05)

    prober = threading.Thread(target=probe_health, daemon=True)
    prober.start()
    hostile_rows = []
    for label, (data, ext) in cases.items():
        worst_health.clear()
        base = _reset_peak()
        cpu0, started = time.process_time(), time.perf_counter()
        response = post("/api/v1/images/", data, f"hostile.{ext}")
        for thumb in response.json().get("thumbnails", []) if response.status_code == 201 else []:
            client.get(thumb["url"])
        hostile_rows.append(
            {
                "case": label,
                "bytes": len(data),
                "status": response.status_code,
                "wall_s": time.perf_counter() - started,
                "cpu_s": time.process_time() - cpu0,
                "peak_growth_mb": (_vm_hwm_kib() - base) / 1024,
                "healthz_worst_ms": max(worst_health, default=0.0),
                "detail": str(response.json())[:160],
            }
        )
    # Eight interlaced 16-bit PNGs at once (threads, as a threaded server would).
    data = hostile.interlaced_16_bit_png(7000, 7000)
    worst_health.clear()
    base = _reset_peak()
    started = time.perf_counter()
    statuses: list[int] = []

    def one() -> None:
        own = APIClient()
        own.force_authenticate(user)
        from django.core.files.uploadedfile import SimpleUploadedFile

        file = SimpleUploadedFile("p.png", data, content_type="image/png")
        statuses.append(own.post("/api/v1/images/", {"file": file}, format="multipart").status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    results["hostile"] = hostile_rows
    results["eight_interlaced_pngs"] = {
        "statuses": sorted(statuses),
        "wall_s": time.perf_counter() - started,
        "peak_growth_mb": (_vm_hwm_kib() - base) / 1024,
        "healthz_worst_ms": max(worst_health, default=0.0),
    }
    return results


# Where one upload's CPU goes (the tree after issue 14): each stage's function wrapped with
# a CPU clock (time.process_time: every thread of the process, libvips's included).
STAGES = [
    ("upload request (whole)", "request"),
    ("  Django + DRF: middleware, multipart parsing, serializers", "=request-image_upload"),
    ("  image_upload service", "image_upload"),
    ("    quota checks (2, before and in the transaction)", "upload_quota_check"),
    ("    the tier's heights", "tier_capabilities_load"),
    ("    processing.process (validate + all thumbnails)", "process"),
    ("      structure walk (markers/chunks, budgets)", "_structure"),
    ("      header, limits (libvips header read)", "=_prepare-_structure"),
    ("      decode at the shrink scale + resize to the largest", "_decode_pass"),
    ("      smaller heights from the largest + encode all", "=process-_prepare-_decode_pass"),
    ("    placeholder (BlurHash, dominant colour)", "placeholder"),
    ("    storage writes (original + thumbnails)", "save"),
    ("    sha256 (original + thumbnails)", "sha256"),
    ("    database rows (image, thumbnails)", "rows"),
    (
        "    other (reading the upload, transaction, metrics)",
        "=image_upload-upload_quota_check-tier_capabilities_load-process-placeholder-save"
        "-sha256-rows",
    ),
    ("decode floor (same scale, nothing else)", "floor"),
    ("store-only request (same bytes, default_storage.save)", "store"),
]


STAGES_EXPLAINED = [
    "What each stage is, and why nothing cheaper is left in it:",
    "",
    "- **Decode at the shrink scale + resize to the largest** is the floor plus the Lanczos",
    "  resize to the 400 px thumbnail and its copy into memory. A 12 MP JPEG is decoded at",
    "  1/4 (1000x750): 1/8 would be 500x375, below the 400 px asked for, and the scale must",
    "  leave the resize a factor of 1.5 (a DCT-scaled decode is close to a box filter;",
    "  BENCHMARKS.md). A PNG cannot be decoded for less than every pixel.",
    "- **Smaller heights + encode all**: the 200 px thumbnail is resized from the 400 px one",
    "  in memory (no second decode, and held for the placeholder), then both are encoded:",
    "  JPEG at Q85 without optimize_coding (which doubles an encode for 1.5 % of the bytes),",
    "  PNG at zlib level 2 with the Sub filter (processing.py has the measurements).",
    "- **Structure walk**: the JPEG's markers are walked to count scans and their work and",
    "  to see the end marker (the budgets, and truncation a shrunk decode would not see);",
    "  the scan's entropy-coded data is skipped with one regex search (about 1 ms for 2 MB).",
    "- **Header, limits**: libvips reads the header (size, EXIF orientation) so pixel and",
    "  side limits refuse a file before any pixel is decoded.",
    "- **Placeholder**: BlurHash and dominant colour from the smallest thumbnail's pixels,",
    "  already in memory.",
    "- **Storage writes, sha256**: the original has to be stored and its digest is part of",
    "  its row; the store-only request pays the same write (and its multipart parsing), which",
    "  is why the p50 target is measured above it.",
    "- **Quota checks**: SPEC 11; once before anything is read, once under the owner's lock",
    "  in the transaction that records the image.",
    "- **Django + DRF**: middleware, the multipart parser reading the body, serializers; the",
    "  store-only request pays most of it too.",
    "",
    "The two thumbnail GETs after an upload cost a couple of milliseconds (they serve the",
    "files the upload made). The p50 ratio depends on the machine's load more than the CPU",
    "ratios do: a loaded machine stretches the upload's wall time and the floor's unequally",
    "(the floor is one libvips call; the upload also waits on the database and the disk).",
]


def _stages(post: Any, data: bytes, fmt: str, floor: Any) -> dict[str, float]:
    import hashlib

    from django.core.files.storage import default_storage

    import pixtier.images.api as api
    from pixtier.images import placeholders, processing, services
    from pixtier.images.models import Image, Thumbnail

    spent: dict[str, float] = {}
    uploading = False

    def clocked(owner: Any, name: str, label: str) -> None:
        function = getattr(owner, name)

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            cpu0 = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                if uploading:  # not the store-only request's save
                    spent[label] = spent.get(label, 0.0) + (time.process_time() - cpu0) * 1000

        setattr(owner, name, wrapper)

    clocked(api, "image_upload", "image_upload")
    clocked(services, "upload_quota_check", "upload_quota_check")
    clocked(services, "tier_capabilities_load", "tier_capabilities_load")
    clocked(processing, "process", "process")
    clocked(processing, "_structure", "_structure")
    clocked(processing, "_prepare", "_prepare")
    clocked(processing, "_decode_pass", "_decode_pass")
    clocked(placeholders, "placeholder", "placeholder")
    clocked(default_storage, "save", "save")
    clocked(hashlib, "sha256", "sha256")
    clocked(Image.objects, "create", "rows")
    clocked(Thumbnail.objects, "bulk_create", "rows")
    runs = []
    for _ in range(RUNS):
        spent.clear()
        uploading = True
        cpu0 = time.process_time()
        answer = post("/api/v1/images/", data, f"a.{fmt}")
        spent["request"] = (time.process_time() - cpu0) * 1000
        uploading = False
        assert answer.status_code == 201, answer.content[:300]
        cpu0 = time.process_time()
        assert post("/bench/store/", data, f"a.{fmt}").status_code == 201
        spent["store"] = (time.process_time() - cpu0) * 1000
        cpu0 = time.process_time()
        floor()
        spent["floor"] = (time.process_time() - cpu0) * 1000
        runs.append(dict(spent))
    medians: dict[str, float] = {}
    for _, key in STAGES:
        if key.startswith("="):
            first, *rest = key[1:].split("-")
            value = _median(
                [run.get(first, 0.0) - sum(run.get(k, 0.0) for k in rest) for run in runs[1:]]
            )
        else:
            value = _median([run.get(key, 0.0) for run in runs[1:]])
        medians[key] = value
    return medians


def _run_tree(tree: Path, *, uploads_only: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pixtier-bench-decode-") as scratch:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": f"sqlite:///{scratch}/db.sqlite3",
            "MEDIA_ROOT": f"{scratch}/media",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PYTHONPATH": str(tree),
            "LOG_LEVEL": "ERROR",
            "ALLOWED_HOSTS": "testserver",
            # The store-only endpoint takes an upload-sized body too.
            "MAX_REQUEST_BYTES": "30000000",
        }
        env.pop("REDIS_URL", None)
        if uploads_only:
            env["BENCH_DECODE_UPLOADS_ONLY"] = "1"
        out = Path(scratch) / "out.json"
        subprocess.run(
            [sys.executable, str(REPO / "bench" / "decode.py"), "--measure", str(out)],
            cwd=tree,
            env=env,
            check=True,
        )
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def _load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f}, {five:.1f}, {fifteen:.1f}"


UPLOADS_NOTE = [
    "Per tree and format, medians of 8 uploads (a first one warms up). Wall: upload p50,",
    "store-only p50 (the same request to an endpoint that only `default_storage.save`s the",
    "file) and the decode floor (libvips reading every pixel at the scale the 400 px",
    "thumbnail uses, from a source over the bytes, and nothing else); the p50 target is",
    "(upload - store-only) / floor <= 1.6. CPU (time.process_time: every thread of the",
    "process, libvips's included): the upload request; the two thumbnail GETs after it",
    "(before: they make the thumbnails on demand; after: they only serve the files the",
    "upload made); the store-only request; `processing.process` alone on the same bytes",
    "(validate + all thumbnails, what the CPU target names; after only); the floor.",
]


def _uploads_table(rounds: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """One row per (format, round, tree)."""
    lines = [
        "| | round | tree | upload p50 | store-only p50 | floor | (upload - store) / floor "
        "| CPU upload | CPU GETs | CPU store-only | CPU pass | CPU floor "
        "| (upload + GETs) / floor | (upload + GETs - store) / floor | pass / floor |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
        "| --- |",
    ]
    for fmt in ("jpeg", "png"):
        for number, (name, tree) in enumerate(rounds):
            r = tree[fmt]
            floor_cpu = r["decode_floor_cpu_ms"]
            whole = r["cpu_upload_request_ms"] + r["cpu_thumbnail_gets_ms"]
            passed = r.get("cpu_pass_ms")
            lines.append(
                f"| {fmt.upper()} | {number // 2 + 1} | {name} | {r['upload_p50_ms']:.0f} ms "
                f"| {r['store_only_p50_ms']:.0f} ms "
                f"| {r['decode_floor_ms']:.0f} ms ({r['floor_scale']}) "
                f"| {(r['upload_p50_ms'] - r['store_only_p50_ms']) / r['decode_floor_ms']:.2f}x "
                f"| {r['cpu_upload_request_ms']:.0f} ms | {r['cpu_thumbnail_gets_ms']:.0f} ms "
                f"| {r['cpu_store_only_ms']:.0f} ms "
                f"| {f'{passed:.0f} ms' if passed is not None else '-'} | {floor_cpu:.0f} ms "
                f"| {whole / floor_cpu:.2f}x "
                f"| {(whole - r['cpu_store_only_ms']) / floor_cpu:.2f}x "
                f"| {f'{passed / floor_cpu:.2f}x' if passed is not None else '-'} |"
            )
    return lines


def _targets(rounds: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The issue's two targets for the 12 MP JPEG (and the PNG beside it), as the median
    over the rounds of each tree."""

    def median_of(fmt: str, name: str, ratio: Any) -> float | None:
        values = [ratio(tree[fmt]) for tree_name, tree in rounds if tree_name == name]
        values = [v for v in values if v is not None]
        return _median(values) if values else None

    measures = [
        (
            "p50: (upload - store-only) / floor",
            "1.6",
            lambda r: (r["upload_p50_ms"] - r["store_only_p50_ms"]) / r["decode_floor_ms"],
        ),
        (
            "CPU: the pass (validate + all thumbnails) / floor",
            "1.6",
            lambda r: r["cpu_pass_ms"] / r["decode_floor_cpu_ms"] if r.get("cpu_pass_ms") else None,
        ),
        (
            "CPU: (upload + GETs - store-only) / floor",
            "",
            lambda r: (
                (r["cpu_upload_request_ms"] + r["cpu_thumbnail_gets_ms"] - r["cpu_store_only_ms"])
                / r["decode_floor_cpu_ms"]
            ),
        ),
        (
            "CPU: (upload + GETs) / floor, the whole requests",
            "",
            lambda r: (
                (r["cpu_upload_request_ms"] + r["cpu_thumbnail_gets_ms"]) / r["decode_floor_cpu_ms"]
            ),
        ),
    ]
    lines = [
        "| measure | target | JPEG after | JPEG before | PNG after | PNG before |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, target, ratio in measures:
        cells = []
        for fmt in ("jpeg", "png"):
            for name in ("after", "before"):
                value = median_of(fmt, name, ratio)
                cells.append("-" if value is None else f"{value:.2f}x")
        lines.append(
            f"| {label} | {'<= ' + target + 'x' if target else ''} | {' | '.join(cells)} |"
        )
    return lines


def _stages_table(after: dict[str, Any]) -> list[str]:
    lines = [
        "| stage | JPEG CPU | JPEG / floor | PNG CPU | PNG / floor |",
        "| --- | --- | --- | --- | --- |",
    ]
    jpeg, png = after["jpeg"]["stages"], after["png"]["stages"]
    for label, key in STAGES:
        depth = (len(label) - len(label.lstrip())) // 2
        lines.append(
            f"| {'&emsp;' * depth}{label.strip()} "
            f"| {jpeg[key]:.1f} ms | {jpeg[key] / jpeg['floor']:.2f} "
            f"| {png[key]:.1f} ms | {png[key] / png['floor']:.2f} |"
        )
    return lines


def _hostile_lines(after: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    trees = [("after", after)] + ([("before", before)] if before else [])
    lines = [
        "## Hostile files",
        "",
        "| case | tree | bytes | answer | wall | CPU | peak memory growth | /healthz worst |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for index in range(len(after["hostile"])):
        for name, tree in trees:
            r = tree["hostile"][index]
            lines.append(
                f"| {r['case']} | {name} | {r['bytes']:,} | {r['status']} | {r['wall_s']:.2f} s"
                f" | {r['cpu_s']:.2f} s | {r['peak_growth_mb']:.0f} MB | "
                f"{r['healthz_worst_ms']:.0f} ms |"
            )
    lines += ["", "Answers (after):", ""]
    lines += [f"- {r['case']}: {r['detail']}" for r in after["hostile"]]
    lines += ["", "## 8 interlaced 16-bit PNGs at once (threads)", ""]
    for name, tree in trees:
        r = tree["eight_interlaced_pngs"]
        lines.append(
            f"- {name}: answers {r['statuses']}, {r['wall_s']:.1f} s, peak memory growth "
            f"{r['peak_growth_mb']:.0f} MB, /healthz worst {r['healthz_worst_ms']:.0f} ms"
        )
    lines += [
        "",
        "The /healthz probe runs in another thread of the same process every 50 ms; under",
        "gunicorn's sync workers a busy worker answers nothing else, so there the question",
        "is how long a worker stays busy: the wall column.",
        "",
    ]
    return lines


def _report(
    rounds: list[tuple[str, dict[str, Any]]], command: str, loads: tuple[str, str], hostile: str
) -> str:
    after = next(tree for name, tree in reversed(rounds) if name == "after")
    lines = [
        "# Bench part: the decode path (issue 14)",
        "",
        f"`{command}` — in process (Django test client, SQLite, local files), so the",
        "upload's own cost without the network's; the trees side by side in one run.",
        f"Machine: 2 cores shared with other work; load average {loads[0]} when the run",
        f"started, {loads[1]} when it ended: absolute numbers are noisy, ratios less so.",
        "",
        "## 12 MP uploads, Enterprise (200 and 400 px)",
        "",
        *UPLOADS_NOTE,
        "",
        "Medians over the rounds:",
        "",
        *_targets(rounds),
        "",
        "Each round:",
        "",
        *_uploads_table(rounds),
        "",
        "## Where one upload's CPU goes (after)",
        "",
        "The last `after` run again, each stage's function wrapped with a CPU clock (medians",
        "of 8 uploads; nested rows are parts of the row above; the `/ floor` column divides",
        "by the floor measured in the same loop).",
        "",
        *_stages_table(after),
        "",
        *STAGES_EXPLAINED,
        "",
        hostile,
    ]
    return "\n".join(lines)


def _kept_hostile(report: Path) -> str:
    """The hostile sections of an earlier full run, for a run of the uploads only."""
    if not report.exists() or "## Hostile files" not in report.read_text():
        return "## Hostile files\n\nNot measured in this run (`--uploads-only`).\n"
    text = report.read_text()
    kept = text[text.index("## Hostile files") :]
    for end in ("\n## 12 MP uploads again", "\n## Where one upload"):
        if end in kept:
            kept = kept[: kept.index(end)]
    if "(from the last full run" not in kept:
        kept = kept.replace(
            "## Hostile files\n",
            "## Hostile files\n\n(from the last full run, `python -m bench.decode --before "
            "DIR`; not repeated by `--uploads-only`, and unchanged by the later commits, "
            "which do not touch the budgets)\n",
            1,
        )
    return kept.rstrip() + "\n"


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--measure":
        Path(sys.argv[2]).write_text(json.dumps(measure()))
        return
    before_dir = Path(sys.argv[sys.argv.index("--before") + 1]) if "--before" in sys.argv else None
    out = REPO / "docs" / "benchmarks" / "decode.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = _load_average()
    rounds: list[tuple[str, dict[str, Any]]] = []
    if "--uploads-only" in sys.argv and before_dir:
        # The 12 MP uploads alone, the trees alternating (ABABAB): the full run's
        # hostile cases take the old code many minutes; the report keeps the last ones.
        for _ in range(ROUNDS):
            rounds.append(("after", _run_tree(REPO, uploads_only=True)))
            rounds.append(("before", _run_tree(before_dir, uploads_only=True)))
        command = f"python -m bench.decode --before {before_dir} --uploads-only"
        hostile = _kept_hostile(out)
    else:
        after = _run_tree(REPO)
        rounds.append(("after", after))
        before = _run_tree(before_dir) if before_dir else None
        if before is not None:
            rounds.append(("before", before))
        command = "python -m bench.decode" + (f" --before {before_dir}" if before_dir else "")
        hostile = "\n".join(_hostile_lines(after, before))
    out.write_text(_report(rounds, command, (started, _load_average()), hostile))
    print(out.read_text())


if __name__ == "__main__":
    main()
