"""
Every core: hello with 1 and 2 workers side by side with the multi-process
servers a user would pick instead, in one run:

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/workers.py          # about 8 minutes

On a 2-core machine the load generator shares the cores with the server,
so besides requests per second this reports requests per server
CPU-second (the CPU time of all the server's processes during the run,
from /proc), which does not depend on how the cores were shared, and how
the connections spread across the workers (which process holds each, read
from /proc while the load runs).  Scenarios: C{wrk -t1 -c100 -d10s} on
C{GET /}, keep-alive and with C{Connection: close}; rounds interleaved
across servers.  Results: benchmarks/results/workers.json and workers.rst.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from run import (
    HERE,
    ROOT,
    Running,
    Server,
    cpuSeconds,
    granian,
    listen,
    measuredCommit,
    nginxCommand,
    platformLine,
    twistd,
    uvicorn,
)

sys.path.insert(0, str(ROOT))
from tests.support.processes import connectionsByProcess  # noqa: E402

CONNECTIONS = 100


def nginx2(port: int, sleep: float, tmp: Path) -> list[str]:
    return nginxCommand(port, sleep, tmp, workers=2)


SERVERS = [
    Server(
        "hello (1 process)",
        lambda port, sleep, tmp: twistd("hello", "--listen", listen(port)),
    ),
    Server(
        "hello --workers 2",
        lambda port, sleep, tmp: twistd(
            "hello", "--workers", "2", "--listen", listen(port)
        ),
        readyLine=r"with 2 workers",
    ),
    Server(
        "uvicorn --workers 2",
        lambda port, sleep, tmp: uvicorn(port, "--workers", "2"),
    ),
    Server(
        "uvicorn --workers 2 --no-access-log",
        lambda port, sleep, tmp: uvicorn(port, "--workers", "2", "--no-access-log"),
    ),
    Server(
        "granian --workers 2 (RSGI)",
        lambda port, sleep, tmp: granian(port, "--workers", "2"),
    ),
    Server("nginx (2 workers, static)", nginx2),
]


def measure(running: Running, seconds: float, close: bool) -> dict[str, object]:
    """
    One wrk run: requests/s, server CPU-seconds, and the connections each
    server process holds halfway through.
    """
    pids = running.pids()
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s"]
    if close:
        command += ["-H", "Connection: close"]
    command.append(f"http://127.0.0.1:{running.port}/")
    spread: dict[int, int] = {}

    def sample() -> None:
        time.sleep(seconds / 2)
        spread.update(connectionsByProcess(running.port, pids))

    sampler = threading.Thread(target=sample)
    cpuBefore = cpuSeconds(pids)
    sampler.start()
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30
    ).stdout
    cpu = cpuSeconds(pids) - cpuBefore
    sampler.join()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    held = sorted((count for count in spread.values() if count), reverse=True)
    return {
        "rps": rate,
        "per_cpu_second": total / cpu if cpu else float("nan"),
        "non2xx": int(errors.group(1)) if errors else 0,
        "spread": held,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--out", default=str(HERE / "results"))
    arguments = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    servers = [
        s for s in SERVERS if not s.name.startswith("nginx") or shutil.which("nginx")
    ]
    started = time.time()
    results: dict[str, dict[str, list[dict[str, object]]]] = {
        s.name: {"keepalive": [], "close": []} for s in servers
    }
    for round in range(arguments.runs):
        for scenario, close in [("keepalive", False), ("close", True)]:
            for server in servers:
                with Running(server) as running:
                    outcome = measure(running, arguments.duration, close)
                results[server.name][scenario].append(outcome)
                print(
                    f"round {round + 1} {scenario:9s} {server.name:36s} {outcome}",
                    flush=True,
                )
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "machine": f"{os.cpu_count()} CPUs, {platformLine()}",
        "commit": measuredCommit(),
        "runs": arguments.runs,
        "load": f"wrk -t1 -c{CONNECTIONS} -d{arguments.duration:g}s, sharing the CPUs",
    }
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "workers.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2)
    )
    table = report(meta, results)
    (out / "workers.rst").write_text(table)
    print(table)


def median(runs: list[dict[str, object]], key: str) -> float:
    return statistics.median(float(run[key]) for run in runs)  # type: ignore[arg-type]


def report(
    meta: dict[str, object], results: dict[str, dict[str, list[dict[str, object]]]]
) -> str:
    """
    The results as a reStructuredText table, then the targets.
    """
    lines = [
        f"Measured {meta['date']} at commit {meta['commit']} on {meta['machine']}; "
        f"{meta['load']}; median of {meta['runs']} interleaved rounds.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - server",
        "     - keep-alive req/s",
        "     - keep-alive req per server CPU-s",
        "     - connections per process (keep-alive, last round)",
        "     - one per connection req/s",
        "     - one per connection req per server CPU-s",
    ]
    for server, scenarios in results.items():
        keep, close = scenarios["keepalive"], scenarios["close"]
        spread = keep[-1]["spread"] if keep else []
        lines += [
            f"   * - {server}",
            f"     - {median(keep, 'rps'):,.0f}",
            f"     - {median(keep, 'per_cpu_second'):,.0f}",
            f"     - {' / '.join(str(n) for n in spread)}",  # type: ignore[attr-defined]
            f"     - {median(close, 'rps'):,.0f}",
            f"     - {median(close, 'per_cpu_second'):,.0f}",
        ]
    lines.append("")

    def ratio(a: str, b: str, scenario: str, key: str) -> float | None:
        if a in results and b in results:
            return median(results[a][scenario], key) / median(results[b][scenario], key)
        return None

    targets = [
        ("keep-alive req per CPU-s, 2 workers vs 1 process", "hello --workers 2", "hello (1 process)", "keepalive", "per_cpu_second", 0.9),
        ("one per connection req per CPU-s, 2 workers vs 1 process", "hello --workers 2", "hello (1 process)", "close", "per_cpu_second", 0.9),
        ("keep-alive req/s vs granian --workers 2", "hello --workers 2", "granian --workers 2 (RSGI)", "keepalive", "rps", 1.0),
        ("keep-alive req/s vs uvicorn --workers 2 --no-access-log", "hello --workers 2", "uvicorn --workers 2 --no-access-log", "keepalive", "rps", 1.5),
    ]  # fmt: skip
    lines += [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - target",
        "     - ratio (medians, same run)",
        "     - needed",
        "     - met",
    ]
    for label, a, b, scenario, key, needed in targets:
        value = ratio(a, b, scenario, key)
        lines += [
            f"   * - {label}",
            f"     - {'n/a' if value is None else f'{value:.2f}x'}",
            f"     - {needed:.1f}x",
            f"     - {'n/a' if value is None else ('yes' if value >= needed else 'no')}",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
