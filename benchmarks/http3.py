"""
HTTP/3 side by side: hello (C{--http3}) against hypercorn (C{--quic-bind}),
the one other Python server of HTTP/3, both on aioquic, measured by the
same client (L{benchmarks.h3load}) with the same load, in one run, rounds
interleaved.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python -m benchmarks.http3            # about 2 minutes

Each server runs alone on CPU 0 with its defaults (hello with its access
log on), the client on CPU 1: C{GET /} for a few seconds over 10
connections with 10 streams in flight on each.  The client is Python too
and may be what limits requests per second; requests per server
CPU-second are what the servers cost, and the figure compared.  It writes
C{benchmarks/results/http3.json} and C{http3.rst}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    CLIENT_CPU,
    HERE,
    PYTHON,
    cpuSeconds,
    helloCommand,
    interleaved,
    measuredCommit,
    pinned,
    platformLine,
    summary,
)
from benchmarks.http2 import certificate
from benchmarks.servers import Running, Server

RESULTS = HERE / "results"


def servers(key: Path, cert: Path) -> list[Server]:
    def hello(port: int, sleep: float, folder: Path) -> list[str]:
        return helloCommand(
            "--listen",
            f"ssl:{port}:interface=127.0.0.1:backlog=4096:privateKey={key}:certKey={cert}",
            "--http3",
        )

    def hypercorn(port: int, sleep: float, folder: Path) -> list[str]:
        return [PYTHON, "-m", "hypercorn", "peers.asgi_app:app",
                "--bind", f"127.0.0.1:{port}", "--quic-bind", f"127.0.0.1:{port}",
                "--certfile", str(cert), "--keyfile", str(key)]  # fmt: skip

    return [
        Server("hello", hello, readyLine="serving on"),
        Server("hypercorn", hypercorn),
    ]


def h3load(
    port: int, seconds: float, connections: int, streams: int
) -> dict[str, float]:
    done = subprocess.run(
        pinned(CLIENT_CPU, [PYTHON, "-m", "benchmarks.h3load", "--port", str(port),
                            "--connections", str(connections), "--streams", str(streams),
                            "--seconds", str(seconds)]),
        capture_output=True, text=True, timeout=seconds + 60,
        cwd=HERE.parent,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"h3load said:\n{done.stdout}\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--streams", type=int, default=10)
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hello-h3-"))
    key, cert = certificate(folder)
    figures: dict[str, dict[str, list[float]]] = {}
    for round, server in interleaved(arguments.rounds, servers(key, cert)):
        with Running(server) as running:
            pids = running.process.pids()
            before = cpuSeconds(pids)
            result = h3load(
                running.port,
                arguments.seconds,
                arguments.connections,
                arguments.streams,
            )
            spent = cpuSeconds(pids) - before
        rate = result["ok"] / result["seconds"]
        perCpu = result["ok"] / spent if spent > 0 else 0.0
        entry = figures.setdefault(
            server.name, {"rps": [], "perCpu": [], "failed": [], "cpuShare": []}
        )
        entry["rps"].append(rate)
        entry["perCpu"].append(perCpu)
        entry["failed"].append(result["failed"])
        entry["cpuShare"].append(spent / result["seconds"])
        print(f"round {round}: {server.name}: {rate:,.0f} req/s, {perCpu:,.0f} req/CPU-s, "
              f"server CPU {spent / result['seconds']:.0%} ({result['failed']:g} failed)",
              flush=True)  # fmt: skip
    report(figures, arguments)


def report(
    figures: dict[str, dict[str, list[float]]], arguments: argparse.Namespace
) -> None:
    medians = {
        name: {kind: summary(values) for kind, values in entry.items()}
        for name, entry in figures.items()
    }
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = (
        f"Measured {when} at commit {measuredCommit()} on {platformLine()}; "
        f"server on CPU 0, benchmarks.h3load on CPU 1, {arguments.connections} "
        f"connections with {arguments.streams} streams each, {arguments.seconds:g} s a "
        f"round; median of {arguments.rounds} interleaved rounds (min-max)."
    )
    hello = medians["hello"]
    ratio = {
        name: hello["perCpu"]["median"] / entry["perCpu"]["median"]
        for name, entry in medians.items()
        if name != "hello" and entry["perCpu"]["median"]
    }
    # The ratio round by round too: a slow moment falls on both servers.
    perRound = {
        name: summary(
            [
                ours / theirs
                for ours, theirs in zip(
                    figures["hello"]["perCpu"], entry["perCpu"], strict=True
                )
                if theirs
            ]
        )
        for name, entry in figures.items()
        if name != "hello"
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "http3.json").write_text(
        json.dumps(
            {
                "measured": head,
                "figures": figures,
                "medians": medians,
                "perCpuRatio": ratio,
                "perCpuRatioByRound": perRound,
            },
            indent=1,
        )
    )
    lines = [head, "", ".. list-table::", "   :header-rows: 1", "",
             "   * - server", "     - req/s", "     - req per server CPU-s",
             "     - server CPU busy", "     - hello's over this (per CPU-s)",
             "     - the same, round by round"]  # fmt: skip
    for name, entry in medians.items():
        lines += [
            f"   * - {name}",
            f"     - {entry['rps']['median']:,.0f} ({entry['rps']['min']:,.0f}–{entry['rps']['max']:,.0f})",
            f"     - {entry['perCpu']['median']:,.0f} ({entry['perCpu']['min']:,.0f}–{entry['perCpu']['max']:,.0f})",
            f"     - {entry['cpuShare']['median']:.0%}",
            f"     - {ratio[name]:.2f}x" if name in ratio else "     - ",
            f"     - {perRound[name]['median']:.2f}x ({perRound[name]['min']:.2f}–"
            f"{perRound[name]['max']:.2f})" if name in perRound else "     - ",
        ]  # fmt: skip
    (RESULTS / "http3.rst").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
