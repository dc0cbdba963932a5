"""
Figures for the prose, read from what the benchmarks wrote.

A figure typed into a page drifts as soon as the benchmarks run again.  The
pages quote these substitutions instead (``|burst-concurrent-s|``), each
made here from a file under ``benchmarks/results/``, formatted as that
run's own tables format it; ``tests/test_docs.py`` checks that every
grouped figure on the built pages is one those files hold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _seconds(value: float) -> str:
    return f"{value:.2f}"


def figures(results: Path = RESULTS) -> dict[str, str]:
    """
    Every substitution the pages may use, by name.
    """
    run = json.loads((results / "results.json").read_text())
    servers: dict[str, Any] = run["results"]

    def median(server: str, figure: str) -> float:
        return float(servers[server][figure]["median"])

    hello = "hello"
    parallel = "hello --parallel"
    concurrentRate = median(hello, "keepalive_rps")
    parallelRate = median(parallel, "keepalive_rps")
    made = {
        "run-measured": f"{run['meta']['date']} at commit {run['meta']['commit']}",
        "run-machine": run["meta"]["machine"],
        "burst-concurrent-s": _seconds(median(hello, "sleep_burst_s")),
        "burst-parallel-8-s": _seconds(median(parallel, "parallel_40x0.5s_8threads_s")),
        "keepalive-concurrent": _rate(concurrentRate),
        "keepalive-parallel": _rate(parallelRate),
        "parallel-slowdown": f"{concurrentRate / parallelRate:.1f}",
        "keepalive-hello-reactor": _rate(concurrentRate),
        "keepalive-twisted-reactor": _rate(
            median("hello -r epoll (Twisted's reactor)", "keepalive_rps")
        ),
        "keepalive-bare-hello-reactor": _rate(
            median("bare Twisted protocol, hello's reactor", "keepalive_rps")
        ),
        "keepalive-bare-twisted-reactor": _rate(
            median("bare Twisted protocol", "keepalive_rps")
        ),
    }
    tree = results / "treecount.json"
    if tree.exists():
        counted = json.loads(tree.read_text())
        made["treecount-one"] = f"{counted['figures']['workers=1']['perRequest']:,}"
        made["treecount-two"] = f"{counted['figures']['workers=2']['perRequest']:,}"
        made["treecount-ratio"] = f"{counted['ratio']:.3f}x"
        one, two = counted["figures"]["workers=1"], counted["figures"]["workers=2"]
        made["treecount-one-alone"] = f"{one['perRequestAlone']:,}"
        made["treecount-two-alone"] = f"{two['perRequestAlone']:,}"
        made["treecount-ratio-alone"] = f"{counted['ratioAlone']:.3f}x"
        made["treecount-one-per-second"] = f"{one['perSecond']:,}"
        made["treecount-two-per-second"] = f"{two['perSecond']:,}"
        made["treecount-measured"] = (
            f"{counted['measured']} at commit {counted['commit']}"
        )
    http3 = results / "http3.json"
    if http3.exists():
        run3 = json.loads(http3.read_text())
        for server, name in (("hello", "hello"), ("hypercorn", "hypercorn")):
            medians3 = run3["medians"][server]
            made[f"http3-{name}-per-cpu"] = _rate(medians3["perCpu"]["median"])
            made[f"http3-{name}-rps"] = _rate(medians3["rps"]["median"])
        made["http3-ratio"] = f"{run3['perCpuRatio']['hypercorn']:.2f}x"
        byRound = run3.get("perCpuRatioByRound", {}).get("hypercorn")
        if byRound is not None:
            made["http3-ratio-by-round"] = f"{byRound['median']:.2f}x"
        made["http3-measured"] = run3["measured"]
    loss = results / "loss.json"
    if loss.exists():
        lossy = json.loads(loss.read_text())
        made["loss-measured"] = lossy["measured"]
        made["loss-percent"] = f"{lossy['loss']}%"
        made["loss-runs"] = str(lossy["runs"])
        made["loss-size-kib"] = str(lossy["size"] // 1024)
        for protocol, name in (("HTTP/2", "h2"), ("HTTP/3", "h3")):
            kept = lossy["summary"][protocol]
            made[f"loss-{name}-small-median-ms"] = f"{kept['smallMedianMs']:.1f}"
            made[f"loss-{name}-small-p90-ms"] = f"{kept['smallP90Ms']:.1f}"
            made[f"loss-{name}-small-worst-ms"] = f"{kept['smallWorstMs']:.0f}"
            made[f"loss-{name}-large-median-ms"] = f"{kept['largeMedianMs']:.0f}"
            made[f"loss-{name}-runs-waiting"] = str(kept["runsWithSmallOver20Ms"])
    hotpath = results / "hotpath.json"
    if hotpath.exists():
        for path, figure in json.loads(hotpath.read_text()).items():
            name = "hotpath-" + path.replace(" ", "-").strip("()")
            made[name] = figure["figure"]
            made[name + "-measured"] = f"{figure['date']} at commit {figure['commit']}"
    return made


def prolog() -> str:
    """
    Every figure as a substitution, for C{rst_prolog}.
    """
    return "\n".join(
        f".. |{name}| replace:: {value}" for name, value in sorted(figures().items())
    )
