"""HTTP load from a separate process: wrk (Debian's package) when installed, else a
bounded Python load generator. Loopback only; every run is bounded in time and count."""

import http.client
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import median, percentile

WRK = shutil.which("wrk")
MAX_REQUESTS = 200_000  # per run, whatever the duration


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers and socket errors
    tool: str


def _check(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"load goes to loopback only, not {host}")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _wrk(url: str, headers: dict[str, str], seconds: float, connections: int) -> Load:
    args = [WRK or "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    args += ["--timeout", "10s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*args, url], capture_output=True, text=True, timeout=seconds + 30, check=True
    )
    out = done.stdout
    distribution = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not (total and rps and "50" in distribution):
        raise RuntimeError(f"could not read wrk's output:\n{out}\n{done.stderr}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    return Load(
        requests=int(total.group(1)),
        seconds=_ms(total.group(2) + total.group(3)) / 1000,
        rps=float(rps.group(1)),
        p50_ms=_ms(distribution["50"]),
        p99_ms=_ms(distribution["99"]),
        errors=(int(errors.group(1)) if errors else 0)
        + (sum(int(n) for n in sockets.groups()) if sockets else 0),
        tool="wrk",
    )


def _python(url: str, headers: dict[str, str], seconds: float, connections: int) -> Load:
    """``connections`` threads, each a keep-alive connection (reopened when the server
    closes it), until the time or the request budget runs out."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        mine: list[float] = []
        failed = 0
        while time.monotonic() < deadline and len(mine) < MAX_REQUESTS // connections:
            started = time.perf_counter()
            try:
                connection.request("GET", target, headers=headers)
                answer = connection.getresponse()
                answer.read()
                if answer.status >= 400:
                    failed += 1
                if answer.will_close:
                    connection.close()
            except (OSError, http.client.HTTPException):
                failed += 1
                connection.close()
            mine.append((time.perf_counter() - started) * 1000)
        connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    elapsed = time.monotonic() - started
    return Load(
        requests=len(latencies),
        seconds=elapsed,
        rps=len(latencies) / elapsed,
        p50_ms=median(latencies),
        p99_ms=percentile(latencies, 0.99),
        errors=errors[0],
        tool="python",
    )


def run(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    seconds: float = 6,
    connections: int = 4,
    warm_up: bool = True,
) -> Load:
    """Load ``url`` for ``seconds`` (after a one-second warm-up unless told otherwise)."""
    _check(url)
    generate = _wrk if WRK else _python
    if warm_up:
        generate(url, headers or {}, 1, connections)
    return generate(url, headers or {}, seconds, connections)


def server_cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used so far by these processes and their children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(entry.name) in pids or int(fields[1]) in pids:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def interleaved(
    targets: dict[str, tuple[str, dict[str, str]]],
    *,
    rounds: int = 3,
    seconds: float = 3,
    server_pids: list[int] | None = None,
) -> dict[str, dict[str, float | int | str]]:
    """Each target (name -> url, headers) loaded ``rounds`` times in turn, so load from
    elsewhere on the machine lands on all of them alike; medians over the rounds. With
    ``server_pids``, also the servers' CPU time per request: unlike latency, it hardly
    moves when other processes compete for the cores."""
    runs: dict[str, list[Load]] = {name: [] for name in targets}
    cpu: dict[str, float] = dict.fromkeys(targets, 0.0)
    for round_ in range(rounds):
        for name, (url, headers) in targets.items():
            if round_ == 0:
                run(url, headers=headers, seconds=1, warm_up=False)
            before = server_cpu_seconds(server_pids or [])
            runs[name].append(run(url, headers=headers, seconds=seconds, warm_up=False))
            # Requests wrk left in the listen backlog are still served for a moment after
            # it exits: let them finish (and count) before the next target starts.
            time.sleep(0.25)
            cpu[name] += server_cpu_seconds(server_pids or []) - before
    time.sleep(0.75)  # the same, before anyone counts queries or empties the cache
    return {
        name: {
            "rps": median([r.rps for r in done]),
            "p50_ms": median([r.p50_ms for r in done]),
            "p99_ms": median([r.p99_ms for r in done]),
            "requests": sum(r.requests for r in done),
            "errors": sum(r.errors for r in done),
            "rounds": rounds,
            "tool": done[0].tool,
            "server_cpu_ms": cpu[name] * 1000 / max(1, sum(r.requests for r in done))
            if server_pids
            else float("nan"),
        }
        for name, done in runs.items()
    }
