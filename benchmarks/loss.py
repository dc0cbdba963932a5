"""
The lesson's last figure: one connection under packet loss, over HTTP/2
and over HTTP/3.  In a network namespace of its own whose input drops a
few percent of the server's packets at random (this kernel has no netem;
nftables' C{numgen random} on an input-hook chain does it; the requests
are not dropped, which would hold up every answer alike), hello serves a
large page; one connection asks for it and for ten small
answers at once (L{tests.support.lossy}), many times, HTTP/2 and
HTTP/3 runs interleaved.

    sudo .venv/bin/python -m benchmarks.loss         # about a minute

Over HTTP/2 every answer rides one TCP byte stream, so a lost segment
holds up every byte behind it, the small answers too, until it is sent
again; over HTTP/3 QUIC delivers each stream on its own, and a loss delays
only the stream it hit.  It writes C{benchmarks/results/loss.json} (every
run, and the small answers' times by protocol) and C{loss-timeline.png}
(the worst run of each protocol: the one whose slowest small answer was
slowest).
Needs root, C{ip} (iproute2) and C{nft} (nftables).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    HERE,
    PYTHON,
    ServerProcess,
    checkoutEnvironment,
    helloCommand,
    measuredCommit,
    platformLine,
)
from benchmarks.http2 import certificate
from tests.support.lossy import LossyNamespace, largePage, missing

RESULTS = HERE / "results"
H2_PORT, H3_PORT = 8080, 8443


def runs(
    namespace: LossyNamespace, count: int
) -> dict[str, list[list[dict[str, Any]]]]:
    found: dict[str, list[list[dict[str, Any]]]] = {"HTTP/2": [], "HTTP/3": []}
    for _ in range(count):
        for protocol, flag, port in (
            ("HTTP/2", "h2", H2_PORT),
            ("HTTP/3", "h3", H3_PORT),
        ):
            found[protocol].append(namespace.timeline(PYTHON, flag, port))
    return found


def summarize(found: dict[str, list[list[dict[str, Any]]]]) -> dict[str, Any]:
    """
    By protocol, in milliseconds: the small answers' times over every run
    (median, 90th percentile, worst), the large answer's median, how many
    runs had a small answer wait past 20 ms, and the run whose slowest
    small answer was the slowest (the one drawn).
    """
    made: dict[str, Any] = {}
    for protocol, timelines in found.items():
        small = sorted(1000 * s["ended"] for run in timelines for s in run[1:])
        large = [1000 * run[0]["ended"] for run in timelines]
        slowest = [max(s["ended"] for s in run[1:]) for run in timelines]
        worst = max(range(len(timelines)), key=lambda i: slowest[i])
        made[protocol] = {
            "smallMedianMs": statistics.median(small),
            "smallP90Ms": small[int(0.9 * (len(small) - 1))],
            "smallWorstMs": small[-1],
            "largeMedianMs": statistics.median(large),
            "worstRun": worst,
            "runsWithSmallOver20Ms": sum(1 for s in slowest if s > 0.020),
        }
    return made


def draw(
    found: dict[str, list[list[dict[str, Any]]]], summary: dict[str, Any], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for axis, protocol in zip(axes, ("HTTP/2", "HTTP/3"), strict=True):
        run = found[protocol][summary[protocol]["worstRun"]]
        for row, stream in enumerate(run):
            large = stream["path"] == "/"
            axis.barh(
                row, 1000 * stream["ended"], color="#c0392b" if large else "#2c7fb8"
            )
        axis.set_yticks(
            range(len(run)), ["large /"] + [f"small {i}" for i in range(1, 11)]
        )
        axis.invert_yaxis()
        axis.set_title(
            f"{protocol}: the run whose slowest small answer was slowest, "
            f"of {len(found[protocol])}"
        )
    axes[-1].set_xlabel("answer complete, ms after the eleven requests were sent")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--loss", type=int, default=5, help="percent of the server's packets dropped"
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--size", type=int, default=256 * 1024, help="the large page")
    arguments = parser.parse_args()
    problem = missing()
    if problem is not None:
        sys.exit(f"benchmarks.loss: {problem}")
    folder = Path(tempfile.mkdtemp(prefix="hello-loss-"))
    key, cert = certificate(folder)
    pages = largePage(folder, arguments.size)
    namespace = LossyNamespace(arguments.loss, fromPorts=(H2_PORT, H3_PORT))
    server = None
    try:
        server = ServerProcess(
            namespace.command(*helloCommand(
                "--listen", f"tcp:{H2_PORT}:interface=127.0.0.1",
                "--listen", f"ssl:{H3_PORT}:interface=127.0.0.1:privateKey={key}:certKey={cert}",
                "--http3", "--pages", str(pages), "--no-access-log",
            )),
            env=checkoutEnvironment(),
            cwd=folder,
        )  # fmt: skip
        server.waitFor("serving on")
        time.sleep(0.5)
        found = runs(namespace, arguments.runs)
    finally:
        if server is not None:
            server.stop()
        namespace.close()
        shutil.rmtree(folder, ignore_errors=True)
    summary = summarize(found)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "loss.json").write_text(json.dumps({
        "measured": f"Measured {when} at commit {measuredCommit()} on {platformLine()}; "
                    f"{arguments.loss}% of the server's packets dropped at random; "
                    f"a {arguments.size // 1024} KiB page and ten 404 pages on one "
                    f"connection, {arguments.runs} runs of each protocol, interleaved.",
        "loss": arguments.loss, "runs": arguments.runs, "size": arguments.size,
        "summary": summary, "timelines": found,
    }, indent=1))  # fmt: skip
    draw(found, summary, RESULTS / "loss-timeline.png")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
