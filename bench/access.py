"""The access path next to a static file (issue 13), before and after, in one run.

For each tree (this checkout, and with ``--baseline REV`` that revision's code, exported
by ``git archive`` into the scratch directory, with this bench's two modules copied in),
``bench.access_run`` serves a 200 px thumbnail three ways from the same gunicorn (2 sync
workers) on PostgreSQL: Django's ``static.serve`` of the file (no authentication), the
owner's download (JWT bearer) and an expiring link's; without and with Redis; streamed by
Django and through nginx (X-Accel-Redirect). Targets are interleaved round by round, so
load from elsewhere on the machine lands on all alike. Writes docs/benchmarks/access.md.

``.venv/bin/python -m bench.access [--baseline REV]``
"""

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import inputs
from bench.__main__ import THROTTLES, database, redis
from bench.common import REPO, machine

# What each measured row serves (bench.access_run uses the same names).
STATIC = "static.serve (no auth)"
OWNER = "owner thumbnail (JWT)"
LINK = "expiring link to the thumbnail"
NGINX = "nginx static file"

OUTPUT = REPO / "docs" / "benchmarks" / "access.md"
TIMEOUT = 900


def _tree(scratch: Path, rev: str) -> Path:
    """``rev``'s code in the scratch directory, with this bench's runner and URLs."""
    tree = scratch / "baseline"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=REPO, capture_output=True, check=True
    ).stdout
    tar = scratch / "baseline.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as opened:
        opened.extractall(tree, filter="data")
    for name in ("access.py", "access_run.py", "urls.py", "load.py"):
        shutil.copyfile(REPO / "bench" / name, tree / "bench" / name)
    return tree


def run_tree(tree: Path, scratch: Path, jpeg: Path, redis_url: str, name: str) -> dict[str, Any]:
    out = scratch / f"{name}.json"
    work = scratch / name
    work.mkdir()
    with database(f"pixtier_bench_access_{name}") as url:
        env = {
            **os.environ,
            "PYTHONPATH": str(tree),
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": url,
            "BENCH_REDIS_URL": redis_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "MEDIA_ROOT": str(work / "media"),
            "STATIC_ROOT": str(work / "static"),
            "PIXTIER_VAR_DIR": str(work / "var"),
            "BACKGROUND_MODE": "off",
            "BENCH_STATIC_ROOT": str(work / "static-serve"),
            "LOG_LEVEL": "WARNING",
            **{f"THROTTLE_{scope}": "off" for scope in THROTTLES},
        }
        env.pop("REDIS_URL", None)
        env.pop("DELIVERY_MODE", None)
        for folder in ("media", "static", "var"):
            (work / folder).mkdir()
        subprocess.run(
            [sys.executable, "-m", "bench.access_run", str(work), str(jpeg), str(out)],
            cwd=tree,
            env=env,
            timeout=TIMEOUT,
            check=True,
        )
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _profile_lines(profile: dict[str, Any]) -> list[str]:
    """The microseconds of this checkout's downloads, from bench.access_profile."""
    if not profile:
        return []
    lines = [
        "## Where the microseconds go (this checkout, in process)",
        "",
        "CPU of one process per request through Django's WSGI handler (what gunicorn "
        "calls), the least of 7 interleaved rounds of 300 requests; PostgreSQL and Redis on "
        "loopback (`bench/access_profile.py`).",
        "",
        "| request | no Redis | Redis (warm) | Redis, no middleware at all |",
        "|---|---|---|---|",
    ]
    for target in profile["Redis"]:
        lines.append(
            f"| {target} | {profile['no Redis'][target]:.0f} µs | "
            f"{profile['Redis'][target]:.0f} µs | "
            f"{profile['Redis, no middleware'][target]:.0f} µs |"
        )
    lines += [
        "",
        "The owner's warm download taken apart (each stage timed alone):",
        "",
        "| stage | µs |",
        "|---|---|",
    ]
    for stage, micros in profile["stages"].items():
        lines.append(f"| {stage} | {micros:.0f} |")
    lines.append("")
    return lines


def render(facts: dict[str, Any], trees: dict[str, dict[str, Any]], command: str) -> str:
    lines = [
        "# The access path next to a static file",
        "",
        f"Written by `{command}` on {facts['date']} ({facts['cores']} cores, "
        f"{facts['cpu']}; load average {facts['load_average']} at start, "
        f"{facts['load_average_end']} at end; {facts['duration_s']} s). "
        "One gunicorn (2 sync workers) on PostgreSQL serves the same 200 px thumbnail "
        "three ways: Django's `static.serve` of the file with no authentication (the "
        "public-media route), the owner's download with a JWT bearer, and an expiring "
        "link's; targets interleaved round by round (wrk, 4 connections, "
        f"{facts['rounds']} rounds of 2 s; medians). Server CPU per request counts "
        "gunicorn's workers (and nginx's for X-Accel). Throttles are off.",
        "",
    ]
    names = list(trees)
    for tree_name in names:
        rows = trees[tree_name]["rows"]
        lines += [f"## {tree_name}", ""]
        lines += [
            "| delivery | target | req/s | vs static.serve | server CPU / request | "
            "SQL cold / warm |",
            "|---|---|---|---|---|---|",
        ]
        for label, measured in rows.items():
            if label.startswith("sql"):
                continue
            sql = rows["sql, Redis" if label.endswith(", Redis") else "sql, no Redis"]
            static = measured[STATIC]["rps"]
            for target, row in measured.items():
                counts = sql.get(target)
                queries = f"{counts['cold']} / {counts['warm']}" if counts else "-"
                lines.append(
                    f"| {label} | {target} | {_fmt(row['rps'])} | "
                    f"{row['rps'] / static:.2f}x | {row['server_cpu_ms']:.2f} ms | {queries} |"
                )
        lines.append("")
    if len(names) == 2:
        before, after = names
        lines += [
            f"## {after} vs {before}",
            "",
            "| delivery | target | before req/s | after req/s | after / before | "
            "after vs static.serve |",
            "|---|---|---|---|---|---|",
        ]
        for label, measured in trees[after]["rows"].items():
            if label.startswith("sql"):
                continue
            old = trees[before]["rows"].get(label, {})
            for target in (OWNER, LINK):
                now_rps = measured[target]["rps"]
                then_rps = old.get(target, {}).get("rps", float("nan"))
                lines.append(
                    f"| {label} | {target} | {_fmt(then_rps)} | {_fmt(now_rps)} | "
                    f"{now_rps / then_rps:.2f}x | "
                    f"{now_rps / measured[STATIC]['rps']:.2f}x |"
                )
        lines.append("")
    lines += _profile_lines(trees[names[-1]].get("profile") or {})
    lines += [
        f"`{NGINX}`: nginx alone sending the same bytes, for scale (no Django at all).",
        "",
        "## Reading it",
        "",
        "Req/s move with the machine's load (other work shares its 2 cores; compare the "
        "two trees' static.serve rows); server CPU per request barely does, and is the "
        "figure to trust across trees. SQL is counted in process with Django's test "
        "client: the first request after the cache was emptied (cold), then the least of "
        "the next four (warm). An expiring link's decision is stored on its second request "
        "(the first learns which owner's version it depends on).",
        "",
        "Why a download is not cheaper than static.serve's (read with the profile "
        "above). Downloads skip the middleware that does nothing for image bytes "
        "(`pixtier/common/downloads.py`): static.serve pays the whole stack, the "
        "difference between its two columns. What a download adds, and static.serve "
        "does not do, is what SPEC 8 asks for: the bearer token (its signature checked "
        "once per process, then a dictionary lookup), the Accept header (remembered per "
        "distinct header), and the decision. With Redis the decision is one round trip "
        "(an EVALSHA reading the cached answer and the versions it was stamped with, and "
        "counting a link's download in the same trip); what it costs is redis-py "
        "packing the command and reading the reply through hiredis, and the socket "
        "calls. Keeping decisions in process memory would save that trip but could not "
        "be outdated by another process's write at once, so it is not done. Without "
        "Redis the decision is one SQL query (the ORM's SQL compiled once per process, "
        "only bound per request; no health-check query before it), and the query is "
        "most of the difference. The file answer itself (validators, ETag, Vary, "
        "Content-Disposition, the open file) costs about what static.serve's does.",
        "",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.access", description=__doc__)
    parser.add_argument("--baseline", help="a revision to measure first, e.g. the issue's start")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    started = time.monotonic()
    facts = machine()
    scratch = Path(tempfile.mkdtemp(prefix="pixtier-bench-access-"))
    trees: dict[str, dict[str, Any]] = {}
    try:
        jpeg = next(i.path for i in inputs.generate(scratch) if i.name.startswith("12 MP JPEG"))
        with redis(scratch) as redis_url:
            if args.baseline:
                print(f"bench.access: baseline {args.baseline}", flush=True)
                base = _tree(scratch, args.baseline)
                trees[f"before ({args.baseline})"] = run_tree(
                    base, scratch, jpeg, redis_url, "before"
                )
            print("bench.access: this checkout", flush=True)
            trees["after (this checkout)"] = run_tree(REPO, scratch, jpeg, redis_url, "after")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    facts["load_average_end"] = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    facts["duration_s"] = round(time.monotonic() - started)
    facts["rounds"] = int(os.environ.get("BENCH_ROUNDS", "5"))
    command = ".venv/bin/python -m bench.access" + (
        f" --baseline {args.baseline}" if args.baseline else ""
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(facts, trees, command))
    print(f"bench.access: wrote {args.output}")


if __name__ == "__main__":
    main()
