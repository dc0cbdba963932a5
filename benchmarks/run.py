"""
hello side by side with the servers a user would pick instead, on this
machine, in one run, one core each:

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python -m benchmarks.run            # about 20 minutes

Every server is started here on 127.0.0.1, pinned to CPU 0 while the load
generator runs on CPU 1 (when there are two or more), and stopped after each
measurement.  Each scenario runs several times, interleaved across servers;
the tables give the median and the min-max.  Results go to
benchmarks/results/ (results.json, results.md, results.rst, chart.png).

The load generator is wrk (Debian: apt-get install wrk) for the throughput
scenarios, and tests/support/burst.py, a bounded epoll client, for the bursts
wrk cannot express.  nginx (apt-get install nginx-light) is included when
installed.  Nothing but loopback is ever contacted, and every load is
bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

if not __package__:  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    HERE,
    burst,
    helloCommand,
    idleMemory,
    interleaved,
    limitOf,
    listen,
    measuredCommit,
    measuredWrk,
    platformLine,
    summary,
)
from benchmarks.report import write
from benchmarks.servers import ONE_CORE, Running, Server, available


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark hello against its peers.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--only", action="append", help="server names to include")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument(
        "--report",
        action="store_true",
        help="only render results.md, results.rst and chart.png from results.json",
    )
    arguments = parser.parse_args()
    if arguments.report:
        saved = json.loads((Path(arguments.out) / "results.json").read_text())
        write(Path(arguments.out), saved["meta"], saved["results"])
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    servers = [
        s for s in available(ONE_CORE) if not arguments.only or s.name in arguments.only
    ]
    results: dict[str, dict[str, object]] = {s.name: {} for s in servers}

    def record(
        server: str, scenario: str, values: list[float], **extra: object
    ) -> None:
        results[server][scenario] = {**summary(values), "runs": values, **extra}
        print(f"  {server:26s} {scenario:22s} {summary(values)}", flush=True)

    # Runs are interleaved (every server once, then every server again), so
    # that a slow moment of a shared machine does not fall on one server.
    started = time.time()
    for scenario, close in [("keepalive_rps", False), ("close_rps", True)]:
        print(f"{scenario}: wrk -t1 -c50 -d{arguments.duration:g}s", flush=True)
        measured: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
        for _, server in interleaved(arguments.runs, servers):
            with Running(server) as running:
                measured[server.name].append(
                    measuredWrk(
                        running.process, running.port, arguments.duration, close
                    )
                )
        for server in servers:
            runs = measured[server.name]
            record(server.name, scenario, [m["rps"] for m in runs])
            record(
                server.name,
                scenario.replace("_rps", "_per_cpu_s"),
                [m["per_cpu_second"] for m in runs],
            )
            if not close:
                record(server.name, "keepalive_p99_ms", [m["p99_ms"] for m in runs])
            results[server.name][scenario]["non2xx"] = [m["non2xx"] for m in runs]  # type: ignore[index]
            # Which side was the limit, run by run: where wrk was, requests
            # per server CPU-second is the figure that measures the server.
            results[server.name][scenario]["limit"] = [  # type: ignore[index]
                limitOf(m["server_cpu_share"], m["client_cpu_share"]) for m in runs
            ]
            results[server.name][scenario]["cpu_shares"] = [  # type: ignore[index]
                [round(m["server_cpu_share"], 2), round(m["client_cpu_share"], 2)]
                for m in runs
            ]

    print("sleep_burst: 5,000 simultaneous GET /sleep (1 s), one per connection")
    # The parallel path is left out: on 10 threads 5,000 sleeps take 500 s.
    sleepers = [s for s in servers if s.hasSleep and s.name != "hello --parallel"]
    bursts: dict[str, list[tuple[dict[str, float], float]]] = {
        s.name: [] for s in sleepers
    }
    for _, server in interleaved(arguments.runs, sleepers):
        with Running(server, sleep=1.0) as running:
            outcome = burst(running.port, "/sleep", 5000)
            peak = running.process.memory("VmHWM") / 2**20
            bursts[server.name].append((outcome, peak))
    for server in sleepers:
        runs = bursts[server.name]
        record(
            server.name,
            "sleep_burst_s",
            [o["lastAnswer"] if o["failed"] == 0 else float("inf") for o, _ in runs],
            failed=[o["failed"] for o, _ in runs],
        )
        record(server.name, "sleep_burst_peak_mb", [peak for _, peak in runs])

    print("idle_memory: 5,000 idle connections, RSS growth per connection")
    # hello --parallel handles connections exactly as hello does.
    idlers = [s for s in servers if s.name != "hello --parallel"]
    idle: dict[str, list[float]] = {s.name: [] for s in idlers}
    for _, server in interleaved(arguments.runs, idlers):
        with Running(server) as running:
            idle[server.name].append(idleMemory(running.process, running.port, 5000))
    for server in idlers:
        record(server.name, "idle_bytes_per_conn", idle[server.name])

    if any(s.name == "hello --parallel" for s in servers):
        print("parallel: 40 simultaneous GET /sleep (0.5 s) on T threads")
        parallel = Server(
            "hello --parallel",
            lambda port, sleep, tmp: [],
        )
        for threads in (4, 8, 16):
            parallel.command = lambda port, sleep, tmp, t=threads: helloCommand(  # type: ignore[misc]
                "--parallel", "--threads", str(t), "--listen", listen(port),
                "--sleep", str(sleep),
            )  # fmt: skip
            values = []
            for _ in range(arguments.runs):
                with Running(parallel, sleep=0.5) as running:
                    outcome = burst(running.port, "/sleep", 40)
                values.append(
                    outcome["lastAnswer"] if outcome["failed"] == 0 else float("inf")
                )
            record("hello --parallel", f"parallel_40x0.5s_{threads}threads_s", values)

    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "machine": platformLine(),
        "commit": measuredCommit(),
        "runs": arguments.runs,
        "duration_s": arguments.duration,
        "pinning": "server on CPU 0, client on CPU 1"
        if (os.cpu_count() or 1) >= 2
        else "none (one CPU)",
    }
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2)
    )
    write(out, meta, results)


if __name__ == "__main__":
    main()
