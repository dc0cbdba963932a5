"""
Every core: hello with 1 and 2 workers side by side with the multi-process
servers a user would pick instead, in one run:

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python -m benchmarks.workers          # about 8 minutes

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
import shutil
import sys
import threading
import time
from pathlib import Path

if not __package__:  # run as a script: python benchmarks/workers.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    HERE,
    connectionsByProcess,
    measuredCommit,
    measuredWrk,
    platformLine,
)
from benchmarks.report import workersReport
from benchmarks.servers import TWO_WORKERS, Running, available

CONNECTIONS = 100


def measure(running: Running, seconds: float, close: bool) -> dict[str, object]:
    """
    One wrk run, sharing the CPUs: requests/s, requests per server
    CPU-second, and the connections each server process holds halfway
    through.
    """
    pids = running.process.pids()
    spread: dict[int, int] = {}

    def sample() -> None:
        time.sleep(seconds / 2)
        spread.update(connectionsByProcess(running.port, pids))

    sampler = threading.Thread(target=sample)
    sampler.start()
    outcome = measuredWrk(
        running.process, running.port, seconds, close, connections=CONNECTIONS, cpu=None
    )
    sampler.join()
    held = sorted((count for count in spread.values() if count), reverse=True)
    return {
        "rps": outcome["rps"],
        "per_cpu_second": outcome["per_cpu_second"],
        "non2xx": int(outcome["non2xx"]),
        "spread": held,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--only", action="append", help="server names to include")
    arguments = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    servers = [
        s
        for s in available(TWO_WORKERS)
        if not arguments.only or s.name in arguments.only
    ]
    started = time.time()
    results: dict[str, dict[str, list[dict[str, object]]]] = {
        s.name: {"keepalive": [], "close": []} for s in servers
    }
    for round in range(arguments.runs):
        for scenario, close in [("keepalive", False), ("close", True)]:
            for server in servers:
                with Running(server, pinned=False) as running:
                    outcome = measure(running, arguments.duration, close)
                results[server.name][scenario].append(outcome)
                print(
                    f"round {round + 1} {scenario:9s} {server.name:36s} {outcome}",
                    flush=True,
                )
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "machine": platformLine(),
        "commit": measuredCommit(),
        "runs": arguments.runs,
        "load": f"wrk -t1 -c{CONNECTIONS} -d{arguments.duration:g}s, sharing the CPUs",
    }
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "workers.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2)
    )
    table = workersReport(meta, results)
    (out / "workers.rst").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
