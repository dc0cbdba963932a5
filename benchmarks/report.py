"""
The benchmarks' report: the tables (Markdown, and reStructuredText for the
docs), the targets with the ratio each reached in the same run, and the
chart.
"""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path


def write(
    out: Path, meta: dict[str, object], results: dict[str, dict[str, object]]
) -> None:
    """
    Render the tables (Markdown, and reStructuredText for the docs) and
    the chart.
    """
    markdown = report(meta, results)
    (out / "results.md").write_text(markdown)
    (out / "results.rst").write_text(markdownToRst(markdown))
    chart(results, out / "chart.png", meta)
    print(markdown)


def markdownToRst(markdown: str) -> str:
    """
    The report's Markdown tables as reStructuredText list-tables.
    """
    out: list[str] = []
    rows: list[list[str]] = []

    def flush() -> None:
        if rows:
            out.extend([".. list-table::", "   :header-rows: 1", ""])
            for row in rows:
                out.append(f"   * - {row[0]}")
                out.extend(f"     - {cell}" for cell in row[1:])
            out.append("")
            rows.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not all(set(cell) <= {"-"} for cell in cells):
                rows.append([cell.replace("*", "\\*") for cell in cells])
        else:
            flush()
            out.append(line)
    flush()
    return "\n".join(out) + "\n"


def cell(results: dict[str, dict[str, object]], server: str, key: str, fmt: str) -> str:
    entry = results.get(server, {}).get(key)
    if not isinstance(entry, dict):
        return "n/a"
    return f"{entry['median']:{fmt}} ({entry['min']:{fmt}}–{entry['max']:{fmt}})"


def limits(results: dict[str, dict[str, object]], server: str, key: str) -> str:
    """
    Which side limited each run of a scenario (L{benchmarks.harness.limitOf}):
    C{server ×5}, or the mix.
    """
    entry = results.get(server, {}).get(key)
    found = entry.get("limit") if isinstance(entry, dict) else None
    if not found:
        return "n/a"
    counts = {side: found.count(side) for side in dict.fromkeys(found)}
    return ", ".join(f"{side} ×{count}" for side, count in counts.items())


#: A ratio of two servers in one run, two ways: the ratio of their medians,
#: and the median of the ratios round by round (each round measures both
#: within minutes, so a slow spell of the machine falls on both).  They
#: differ by a few hundredths; a target counts as met only if both meet it.
Ratios = tuple[float, float]


def ratios(mine: list[float], theirs: list[float]) -> Ratios | None:
    """
    The L{Ratios} of two servers' values, given round by round.
    """
    if not mine or not theirs or not all(theirs):
        return None
    medians = statistics.median(mine) / statistics.median(theirs)
    rounds = statistics.median(a / b for a, b in zip(mine, theirs, strict=False))
    return medians, rounds


def ratio(
    results: dict[str, dict[str, object]], key: str, peer: str, inverse: bool = False
) -> Ratios | None:
    mine = results.get("hello", {}).get(key)
    theirs = results.get(peer, {}).get(key)
    if not isinstance(mine, dict) or not isinstance(theirs, dict):
        return None
    a, b = mine["runs"], theirs["runs"]
    if inverse:
        a, b = b, a
    return ratios(a, b)  # type: ignore[arg-type]


def verdict(value: Ratios | None, needed: float | None) -> tuple[str, str, str]:
    """
    A target's row: the ratios measured (of medians, then the median per
    round), the ratio needed, and whether both meet it (C{needed} of
    C{None}: shown for information, nothing to meet).
    """
    shown = "n/a" if value is None else f"{value[0]:.2f}x / {value[1]:.2f}x"
    if needed is None:
        return shown, "(for information)", ""
    if value is None:
        return shown, f"{needed:.2f}x", "n/a"
    met = [each >= needed for each in value]
    judged = "yes" if all(met) else ("no" if not any(met) else "one of the two")
    return shown, f"{needed:.2f}x", judged


#: (label, measurement, peer, ratio needed, lower is better).  The ratios
#: this project set itself against each peer, in its issue tracker; a
#: needed ratio of C{None} is shown for information.
TARGETS = [
    ("keep-alive req/s vs granian", "keepalive_rps", "granian (RSGI, 1 worker)", 1.3, False),
    ("keep-alive req/s vs nginx", "keepalive_rps", "nginx (1 worker, static)", 1.0, False),
    ("keep-alive p99 vs granian's (theirs / ours; ours at most theirs)", "keepalive_p99_ms", "granian (RSGI, 1 worker)", 1.0, True),
    ("one-per-connection req/s vs granian", "close_rps", "granian (RSGI, 1 worker)", 1.0, False),
    ("one-per-connection req per server CPU-s vs granian", "close_per_cpu_s", "granian (RSGI, 1 worker)", None, False),
    ("one-per-connection req per server CPU-s vs nginx", "close_per_cpu_s", "nginx (1 worker, static)", 0.7, False),
    ("one-per-connection req/s vs uvicorn --no-access-log", "close_rps", "uvicorn+httptools --no-access-log", 1.5, False),
    ("idle memory per connection vs twisted.web (theirs / ours)", "idle_bytes_per_conn", "twisted.web", 1.0, True),
    ("keep-alive req/s vs twisted.web", "keepalive_rps", "twisted.web", 4.0, False),
    ("one-per-connection req/s vs twisted.web", "close_rps", "twisted.web", 2.5, False),
    ("keep-alive req/s vs the bare protocol on hello's reactor", "keepalive_rps", "bare Twisted protocol, hello's reactor", None, False),
    ("one-per-connection req/s vs the bare protocol on hello's reactor", "close_rps", "bare Twisted protocol, hello's reactor", None, False),
    ("keep-alive req/s vs hello on Twisted's reactor", "keepalive_rps", "hello -r epoll (Twisted's reactor)", None, False),
]  # fmt: skip


def report(meta: dict[str, object], results: dict[str, dict[str, object]]) -> str:
    servers = list(results)
    lines = [
        f"Measured {meta['date']} at commit {meta.get('commit', 'unknown')} on "
        f"{meta['machine']}; {meta['pinning']}; median of {meta['runs']} runs "
        "(min–max).",
        "",
        "| server | keep-alive req per server CPU-s | keep-alive req/s | keep-alive "
        "p99 ms | keep-alive limit | one per connection req per server CPU-s | "
        "one per connection req/s | one per connection limit | "
        "5,000 × /sleep 1 s: done in s | its peak RSS MB | idle bytes/conn |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for server in servers:
        lines.append(
            f"| {server} | {cell(results, server, 'keepalive_per_cpu_s', ',.0f')} | "
            f"{cell(results, server, 'keepalive_rps', ',.0f')} | "
            f"{cell(results, server, 'keepalive_p99_ms', '.2f')} | "
            f"{limits(results, server, 'keepalive_rps')} | "
            f"{cell(results, server, 'close_per_cpu_s', ',.0f')} | "
            f"{cell(results, server, 'close_rps', ',.0f')} | "
            f"{limits(results, server, 'close_rps')} | "
            f"{cell(results, server, 'sleep_burst_s', '.2f')} | "
            f"{cell(results, server, 'sleep_burst_peak_mb', '.0f')} | "
            f"{cell(results, server, 'idle_bytes_per_conn', ',.0f')} |"
        )
    lines += [
        "",
        "Requests per server CPU-second lead: on a 2-core machine wrk, on the other "
        "core, can be the limit (it spends its CPU opening connections). The limit "
        "columns say, run by run, which side used at least 90% of its core: the "
        "server, wrk, or neither; where it was wrk, req/s measures wrk.",
        "",
        "| target | ratio, same run: of medians / median per round | needed | met |",
        "|---|---|---|---|",
    ]
    for label, key, peer, needed, inverse in TARGETS:
        shown, wanted, met = verdict(ratio(results, key, peer, inverse), needed)
        lines.append(f"| {label} | {shown} | {wanted} |{' ' + met if met else ''} |")
    bursts = {
        s: results[s]["sleep_burst_s"]["median"]  # type: ignore[index]
        for s in servers
        if isinstance(results[s].get("sleep_burst_s"), dict)
        and not s.startswith("hello")
    }
    if bursts and isinstance(results.get("hello", {}).get("sleep_burst_s"), dict):
        mine = results["hello"]["sleep_burst_s"]["median"]  # type: ignore[index]
        fastest = min(bursts, key=bursts.get)  # type: ignore[arg-type]
        lines.append(
            f"| 5,000 × /sleep done no later than the fastest peer ({fastest}, "
            f"{bursts[fastest]:.2f} s) | {mine:.2f} s | ≤ {bursts[fastest]:.2f} s | "
            f"{'yes' if mine <= bursts[fastest] else 'no'} |"
        )
    parallel = [
        (key, value)
        for key, value in results.get("hello --parallel", {}).items()
        if key.startswith("parallel_")
    ]
    if parallel:
        lines += [
            "",
            "| hello --parallel: 40 × /sleep 0.5 s | done in s | ceil(40/T) × 0.5 s |",
            "|---|---|---|",
        ]
        for key, value in parallel:
            threads = int(re.search(r"_(\d+)threads", key).group(1))  # type: ignore[union-attr]
            lines.append(
                f"| {threads} threads | {value['median']:.2f} ({value['min']:.2f}–{value['max']:.2f}) | "  # type: ignore[index]
                f"{-(-40 // threads) * 0.5:.1f} |"
            )
    return "\n".join(lines) + "\n"


def chart(
    results: dict[str, dict[str, object]], path: Path, meta: dict[str, object]
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing: no chart", file=sys.stderr)
        return
    servers = list(results)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, key, title in [
        (axes[0], "keepalive_rps", "keep-alive, 50 connections (req/s)"),
        (axes[1], "close_rps", "one request per connection (req/s)"),
    ]:
        medians, lows, highs, names = [], [], [], []
        for server in servers:
            entry = results[server].get(key)
            if isinstance(entry, dict):
                names.append(server)
                medians.append(entry["median"])
                lows.append(entry["median"] - entry["min"])
                highs.append(entry["max"] - entry["median"])
        colors = ["#2a7ab9" if n.startswith("hello") else "#9a9a9a" for n in names]
        ax.barh(names, medians, xerr=[lows, highs], color=colors)
        ax.invert_yaxis()
        ax.set_title(title)
        for y, value in enumerate(medians):
            ax.text(value, y, f" {value:,.0f}", va="center")
        ax.set_xlim(0, max(medians) * 1.25 if medians else 1)
    figure.suptitle(
        f"hello and its peers, {meta['date']}, commit {meta.get('commit', '?')}\n"
        f"{meta['machine']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def median(runs: list[dict[str, object]], key: str) -> float:
    return statistics.median(float(run[key]) for run in runs)  # type: ignore[arg-type]


#: The floor of a second process: the bare protocol in two and in one.
BARE_TWO = "bare protocol, hello's reactor (2 processes)"
BARE_ONE = "bare protocol, hello's reactor (1 process)"


def workersReport(
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

    def ratio(a: str, b: str, scenario: str, key: str) -> Ratios | None:
        if a in results and b in results:
            return ratios(
                [float(run[key]) for run in results[a][scenario]],  # type: ignore[arg-type]
                [float(run[key]) for run in results[b][scenario]],  # type: ignore[arg-type]
            )
        return None

    targets = [
        ("keep-alive req per CPU-s, 2 workers vs 1 process", "hello --workers 2", "hello (1 process)", "keepalive", "per_cpu_second", None),
        ("one per connection req per CPU-s, 2 workers vs 1 process", "hello --workers 2", "hello (1 process)", "close", "per_cpu_second", None),
        ("keep-alive req/s vs granian --workers 2", "hello --workers 2", "granian --workers 2 (RSGI)", "keepalive", "rps", 1.0),
        ("keep-alive req/s vs nginx with 2 workers", "hello --workers 2", "nginx (2 workers, static)", "keepalive", "rps", 0.9),
        ("keep-alive req/s vs uvicorn --workers 2 --no-access-log", "hello --workers 2", "uvicorn --workers 2 --no-access-log", "keepalive", "rps", 1.5),
        ("granian: keep-alive req per CPU-s, 2 workers vs 1", "granian --workers 2 (RSGI)", "granian --workers 1 (RSGI)", "keepalive", "per_cpu_second", None),
        ("granian: one per connection req per CPU-s, 2 workers vs 1", "granian --workers 2 (RSGI)", "granian --workers 1 (RSGI)", "close", "per_cpu_second", None),
        ("nginx: keep-alive req per CPU-s, 2 workers vs 1", "nginx (2 workers, static)", "nginx (1 worker, static)", "keepalive", "per_cpu_second", None),
        ("nginx: one per connection req per CPU-s, 2 workers vs 1", "nginx (2 workers, static)", "nginx (1 worker, static)", "close", "per_cpu_second", None),
        ("bare protocol: keep-alive req per CPU-s, 2 processes vs 1", BARE_TWO, BARE_ONE, "keepalive", "per_cpu_second", None),
        ("bare protocol: one per connection req per CPU-s, 2 processes vs 1", BARE_TWO, BARE_ONE, "close", "per_cpu_second", None),
    ]  # fmt: skip
    lines += [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - target",
        "     - ratio, same run: of medians / median per round",
        "     - needed",
        "     - met",
    ]
    rows = [
        (label, *verdict(ratio(a, b, scenario, key), needed))
        for label, a, b, scenario, key, needed in targets
    ]
    for scenario, name in [
        ("keepalive", "keep-alive"),
        ("close", "one per connection"),
    ]:
        rows.append((
            f"{name}: hello's scaling (2 workers / 1 process, per CPU-s) over nginx's",
            *verdict(scalingOverPeer(results, scenario), 1.0),
        ))  # fmt: skip
    rows.append((
        "imbalance of hello --workers 2, keep-alive: largest share of the "
        "connections over the mean (at most)",
        *imbalanceVerdict(results.get("hello --workers 2", {}).get("keepalive", [])),
    ))  # fmt: skip
    for label, shown, wanted, met in rows:
        lines += [
            f"   * - {label}",
            f"     - {shown}",
            f"     - {wanted}",
            f"     -{' ' + met if met else ''}",
        ]
    return "\n".join(lines) + "\n"


def scalingOverPeer(
    results: dict[str, dict[str, list[dict[str, object]]]], scenario: str
) -> Ratios | None:
    """
    hello's scaling (2 workers over 1 process, requests per server
    CPU-second) over nginx's (2 workers over 1), of the medians and round by
    round.
    """
    names = ["hello --workers 2", "hello (1 process)",
             "nginx (2 workers, static)", "nginx (1 worker, static)"]  # fmt: skip
    if not all(name in results for name in names):
        return None
    runs = [
        [float(run["per_cpu_second"]) for run in results[name][scenario]]  # type: ignore[arg-type]
        for name in names
    ]
    if not all(all(values) and values for values in runs):
        return None
    two, one, peerTwo, peerOne = runs
    medians = [statistics.median(values) for values in runs]
    ofMedians = (medians[0] / medians[1]) / (medians[2] / medians[3])
    perRound = statistics.median(
        (a / b) / (c / d)
        for a, b, c, d in zip(two, one, peerTwo, peerOne, strict=False)
    )
    return ofMedians, perRound


def imbalance(spread: list[int]) -> float | None:
    """
    The largest share of connections a worker held over the mean share
    (1.0: even), or C{None} without a spread.
    """
    if not spread or not sum(spread):
        return None
    return max(spread) / (sum(spread) / len(spread))


def imbalanceVerdict(
    runs: list[dict[str, object]], most: float = 1.2
) -> tuple[str, str, str]:
    """
    The imbalance row: the median over the rounds and the worst round,
    the bound, and whether both stay within it.
    """
    values = [
        value
        for run in runs
        if (value := imbalance(list(run.get("spread", [])))) is not None  # type: ignore[call-overload]
    ]
    if not values:
        return "n/a", f"at most {most:.2f}", "n/a"
    median, worst = statistics.median(values), max(values)
    met = [each <= most for each in (median, worst)]
    judged = "yes" if all(met) else ("no" if not any(met) else "one of the two")
    return (
        f"{median:.2f} (median) / {worst:.2f} (worst round)",
        f"at most {most:.2f}",
        judged,
    )
