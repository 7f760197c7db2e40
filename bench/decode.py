"""Part "decode" (issue 14): the upload's one budgeted decode, before and after.

    .venv/bin/python -m bench.decode [--before DIR]

Each tree (this checkout, and with ``--before`` an extracted older one, e.g.
``git archive acc80f8 | tar -x -C DIR``) is measured by the same harness in a process of
its own (``bench/decode.py --measure``), in process through Django's test client on
SQLite with local files: the upload's own cost, not the network's. Per tree:

- 12 MP JPEG and 12 MP PNG, Enterprise (200 and 400 px): the upload's p50, the time
  until both thumbnails are served (READY), and the CPU of both, beside a store-only
  upload (same request, ``default_storage.save`` only) and the decode floor (libvips
  decoding every pixel at the scale the 400 px thumbnail uses, nothing else);
- every hostile case: answer, wall time, CPU, peak memory growth (VmHWM reset per case),
  and /healthz's worst latency from another thread meanwhile;
- 8 interlaced 16-bit PNGs uploaded at once: peak memory growth.

Writes docs/benchmarks/decode.md.
"""

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
        from django.core.files.uploadedfile import SimpleUploadedFile

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

    for fmt, data, shrink in (("jpeg", jpeg, 4), ("png", png, 1)):
        upload, ready, store, cpu, floor, floor_cpu = [], [], [], [], [], []
        for _ in range(RUNS):
            cpu0, started = time.process_time(), time.perf_counter()
            response = post("/api/v1/images/", data, f"a.{fmt}")
            upload.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 201, response.content[:300]
            for thumb in response.json()["thumbnails"]:
                assert client.get(thumb["url"]).status_code == 200
            ready.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu0) * 1000)
            started = time.perf_counter()
            stored = post("/bench/store/", data, f"a.{fmt}")
            assert stored.status_code == 201, (stored.status_code, stored.content[:200])
            store.append((time.perf_counter() - started) * 1000)
            cpu0, started = time.process_time(), time.perf_counter()
            if fmt == "jpeg":
                pyvips.Image.jpegload_buffer(data, shrink=shrink, access="sequential").avg()
            else:
                pyvips.Image.pngload_buffer(data, access="sequential").avg()
            floor.append((time.perf_counter() - started) * 1000)
            floor_cpu.append((time.process_time() - cpu0) * 1000)
        results[fmt] = {
            "upload_p50_ms": _median(upload[1:]),
            "ready_p50_ms": _median(ready[1:]),
            "store_only_p50_ms": _median(store[1:]),
            "cpu_per_upload_ms": _median(cpu[1:]),
            "decode_floor_ms": _median(floor[1:]),
            "decode_floor_cpu_ms": _median(floor_cpu[1:]),
            "floor_scale": f"1/{shrink}",
        }

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


def _report(after: dict[str, Any], before: dict[str, Any] | None, command: str) -> str:
    load = os.getloadavg()
    lines = [
        "# Bench part: the decode path (issue 14)",
        "",
        f"`{command}` — in process (Django test client, SQLite, local files), so the",
        "upload's own cost without the network's; side by side in one run. Machine: 2 cores",
        f"shared with other work (load average {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}):",
        "absolute numbers are noisy, ratios less so.",
        "",
        "## 12 MP uploads, Enterprise (200 and 400 px)",
        "",
        "| | tree | upload p50 | READY p50 | store-only p50 | decode floor | CPU / upload "
        "| (upload - store) / floor | CPU / floor CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    trees = [("after", after)] + ([("before", before)] if before else [])
    for fmt in ("jpeg", "png"):
        for name, tree in trees:
            r = tree[fmt]
            lines.append(
                f"| {fmt.upper()} | {name} | {r['upload_p50_ms']:.0f} ms | "
                f"{r['ready_p50_ms']:.0f} ms | {r['store_only_p50_ms']:.0f} ms | "
                f"{r['decode_floor_ms']:.0f} ms ({r['floor_scale']}) | "
                f"{r['cpu_per_upload_ms']:.0f} ms | "
                f"{(r['upload_p50_ms'] - r['store_only_p50_ms']) / r['decode_floor_ms']:.2f}x | "
                f"{r['cpu_per_upload_ms'] / r['decode_floor_cpu_ms']:.2f}x |"
            )
    lines += [
        "",
        "READY: until both thumbnails are served (before: the first request makes them on",
        "demand, background work off; after: the upload made them). CPU per upload covers",
        "the upload and both thumbnail requests; the decode floor is libvips decoding every",
        "pixel at the scale the 400 px thumbnail uses, and nothing else.",
        "",
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
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--measure":
        Path(sys.argv[2]).write_text(json.dumps(measure()))
        return
    before_dir = Path(sys.argv[sys.argv.index("--before") + 1]) if "--before" in sys.argv else None
    if "--uploads-only" in sys.argv and before_dir:
        # The 12 MP uploads alone, the trees one after the other twice (ABAB), appended
        # to the report: the full run's hostile cases take the old code many minutes.
        rounds = [(_run_tree(REPO, uploads_only=True), _run_tree(before_dir, uploads_only=True))]
        rounds.append(
            (_run_tree(REPO, uploads_only=True), _run_tree(before_dir, uploads_only=True))
        )
        lines = ["", "## 12 MP uploads again, trees alternating (ABAB), uploads only", ""]
        lines.append(
            "| | round | tree | upload p50 | READY p50 | store-only p50 | floor | "
            "CPU / upload | floor CPU | CPU / floor CPU |"
        )
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for fmt in ("jpeg", "png"):
            for number, pair in enumerate(rounds, 1):
                for name, tree in zip(("after", "before"), pair, strict=True):
                    r = tree[fmt]
                    lines.append(
                        f"| {fmt.upper()} | {number} | {name} | {r['upload_p50_ms']:.0f} ms | "
                        f"{r['ready_p50_ms']:.0f} ms | {r['store_only_p50_ms']:.0f} ms | "
                        f"{r['decode_floor_ms']:.0f} ms | {r['cpu_per_upload_ms']:.0f} ms | "
                        f"{r['decode_floor_cpu_ms']:.0f} ms | "
                        f"{r['cpu_per_upload_ms'] / r['decode_floor_cpu_ms']:.2f}x |"
                    )
        load = os.getloadavg()
        lines.append("")
        lines.append(
            f"`python -m bench.decode --before {before_dir} --uploads-only`, load "
            f"average {load[0]:.1f}."
        )
        out = REPO / "docs" / "benchmarks" / "decode.md"
        out.write_text(out.read_text() + "\n".join(lines) + "\n")
        print("\n".join(lines))
        return
    after = _run_tree(REPO)
    before = _run_tree(before_dir) if before_dir else None
    command = "python -m bench.decode" + (f" --before {before_dir}" if before_dir else "")
    out = REPO / "docs" / "benchmarks" / "decode.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_report(after, before, command))
    print(out.read_text())


if __name__ == "__main__":
    main()
