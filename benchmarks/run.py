"""
hello side by side with the servers a user would pick instead, on this
machine, in one run:

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/run.py            # about 10 minutes

Every server is started here on 127.0.0.1, pinned to CPU 0 while the load
generator runs on CPU 1 (when there are two or more), and stopped after each
measurement.  Each scenario runs several times; the tables give the median
and the min-max.  Results go to benchmarks/results/ (results.json,
results.md, chart.png).

The load generator is wrk (Debian: apt-get install wrk) for the throughput
scenarios, and benchmarks/burst.py, a bounded epoll client, for the bursts
wrk cannot express.  nginx (apt-get install nginx-light) is included when
installed.  Nothing but loopback is ever contacted, and every load is
bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
SERVER_CPU = "0"
CLIENT_CPU = "1"


@dataclass
class Server:
    name: str
    command: Callable[[int, float, Path], list[str]]
    hasSleep: bool = True
    env: dict[str, str] = field(default_factory=dict)
    #: A line of the server's log that says it serves (where accepting
    #: connections is not enough: hello's workers start after its sockets).
    readyLine: str | None = None


def twistd(*arguments: str) -> list[str]:
    return [str(BIN / "twistd"), "-n", "--pidfile=", *arguments]


def listen(port: int) -> str:
    return f"tcp:{port}:interface=127.0.0.1:backlog=4096"


def nginxCommand(port: int, sleep: float, tmp: Path, workers: int = 1) -> list[str]:
    conf = (HERE / "peers" / "nginx.conf").read_text()
    pages = ROOT / "hello_service" / "pages"
    conf = conf.replace("worker_processes 1;", f"worker_processes {workers};")
    conf = conf.replace("__PORT__", str(port)).replace("__ROOT__", str(pages))
    conf = conf.replace("__TMP__", str(tmp))
    (tmp / "nginx.conf").write_text(conf)
    return [
        shutil.which("nginx") or "nginx",
        "-c",
        str(tmp / "nginx.conf"),
        "-p",
        str(tmp),
    ]


def uvicorn(port: int, *extra: str) -> list[str]:
    return [
        PYTHON, "-m", "uvicorn", "peers.asgi_app:app", "--http", "httptools",
        "--loop", "uvloop", "--host", "127.0.0.1", "--port", str(port),
        "--backlog", "4096", *extra,
    ]  # fmt: skip


def granian(port: int, *extra: str) -> list[str]:
    return [
        str(BIN / "granian"), "--interface", "rsgi", "--loop", "uvloop",
        "--http", "1", "--no-ws", "--host", "127.0.0.1", "--port", str(port),
        "--backlog", "4096", *extra, "peers.rsgi_app:app",
    ]  # fmt: skip


SERVERS = [
    Server(
        "hello",
        lambda port, sleep, tmp: twistd(
            "hello", "--listen", listen(port), "--sleep", str(sleep)
        ),
    ),
    Server(
        "hello --parallel",
        lambda port, sleep, tmp: twistd(
            "hello", "--parallel", "--listen", listen(port), "--sleep", str(sleep)
        ),
    ),
    Server(
        "twisted.web",
        lambda port, sleep, tmp: twistd(
            "web", "--listen", listen(port), "--class", "peers.twisted_web_app.Root"
        ),
    ),
    Server(
        "aiohttp",
        lambda port, sleep, tmp: [PYTHON, "-m", "peers.aiohttp_app", str(port)],
    ),
    Server("uvicorn+httptools", lambda port, sleep, tmp: uvicorn(port)),
    Server(
        "uvicorn+httptools --no-access-log",
        lambda port, sleep, tmp: uvicorn(port, "--no-access-log"),
    ),
    Server(
        "granian (RSGI, 1 worker)",
        lambda port, sleep, tmp: granian(
            port, "--workers", "1", "--runtime-mode", "mt", "--runtime-threads", "2"
        ),
    ),
    Server(
        "bare Twisted protocol",
        lambda port, sleep, tmp: [PYTHON, "-m", "peers.bare_twisted", str(port)],
        hasSleep=False,
    ),
    Server("nginx (1 worker, static)", nginxCommand, hasSleep=False),
]


def pinned(cpu: str, command: list[str]) -> list[str]:
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", cpu, *command]
    return command


def freePort() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Running:
    """
    One server process, started and stopped around one measurement.
    """

    def __init__(self, server: Server, sleep: float = 1.0) -> None:
        self.server = server
        self.port = freePort()
        self.tmp = Path(tempfile.mkdtemp(prefix="hello-bench-"))
        env = dict(os.environ, PYTHONPATH=str(HERE), HELLO_SLEEP=str(sleep))
        self.log = open(self.tmp / "server.log", "wb")
        self.process = subprocess.Popen(
            pinned(SERVER_CPU, server.command(self.port, sleep, self.tmp)),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.tmp,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"{server.name} did not start")
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited: {(self.tmp / 'server.log').read_text()[-500:]}"
            )
        while server.readyLine is not None and time.monotonic() < deadline:
            if re.search(server.readyLine, (self.tmp / "server.log").read_text()):
                break
            time.sleep(0.1)
        time.sleep(0.5)

    def pids(self) -> list[int]:
        """
        The server's processes (nginx's master and worker, or the one).
        """
        result = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        )
        children = [int(p) for p in result.stdout.split()]
        found = [self.process.pid, *children]
        for child in children:
            result = subprocess.run(
                ["pgrep", "-P", str(child)], capture_output=True, text=True
            )
            found += [int(p) for p in result.stdout.split()]
        return found

    def memory(self, key: str = "VmRSS") -> int:
        """
        Resident memory of all the server's processes, in bytes.
        """
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(key + ":"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in self.pids()[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def cpuSeconds(pids: list[int]) -> float:
    """
    User and system CPU time of C{pids}, in seconds (from /proc).
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def measuredWrk(running: Running, seconds: float, close: bool) -> dict[str, float]:
    """
    L{wrk} against a running server, with the requests it answered per
    CPU-second of its processes: steadier than requests per second on a
    shared machine.
    """
    pids = running.pids()
    before = cpuSeconds(pids)
    outcome = wrk(running.port, seconds, close)
    cpu = cpuSeconds(pids) - before
    outcome["per_cpu_second"] = outcome["requests"] / cpu if cpu else float("nan")
    return outcome


def wrk(port: int, seconds: float, close: bool) -> dict[str, float]:
    command = ["wrk", "-t1", "-c50", f"-d{seconds:g}s", "--latency"]
    if close:
        command += ["-H", "Connection: close"]
    command.append(f"http://127.0.0.1:{port}/")
    output = subprocess.run(
        pinned(CLIENT_CPU, command),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = float(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socketErrors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": rate,
        "requests": requests,
        "p99_ms": float(p99.group(1)) * _UNITS[p99.group(2)] if p99 else float("nan"),
        "non2xx": float(errors.group(1)) if errors else 0.0,
        "socket_errors": socketErrors.group(1) if socketErrors else "",  # type: ignore[dict-item]
    }


def burst(port: int, path: str, count: int) -> dict[str, float]:
    output = subprocess.run(
        pinned(
            CLIENT_CPU,
            [
                PYTHON,
                str(HERE / "burst.py"),
                "--port",
                str(port),
                "--path",
                path,
                "--count",
                str(count),
                "--deadline",
                "60",
            ],
        ),  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return json.loads(output)  # type: ignore[no-any-return]


IDLE_CLIENT = r"""
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
held = []
for _ in range(count):
    held.append(socket.create_connection(("127.0.0.1", port)))
print("ready", flush=True)
sys.stdin.readline()
"""


def idleMemory(running: Running, count: int) -> float:
    """
    RSS growth per idle connection: open C{count} connections that send
    nothing, wait for the server to accept them, divide the growth.
    """
    before = running.memory()
    client = subprocess.Popen(
        pinned(CLIENT_CPU, [PYTHON, "-c", IDLE_CLIENT, str(running.port), str(count)]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout is not None and client.stdin is not None
        client.stdout.readline()
        time.sleep(1.5)
        after = running.memory()
        client.stdin.write("\n")
        client.stdin.flush()
        client.wait(30)
    finally:
        if client.poll() is None:
            client.kill()
    return (after - before) / count


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


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
        s
        for s in SERVERS
        if (not s.name.startswith("nginx") or shutil.which("nginx"))
        and (not arguments.only or s.name in arguments.only)
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
        for _ in range(arguments.runs):
            for server in servers:
                with Running(server) as running:
                    measured[server.name].append(
                        measuredWrk(running, arguments.duration, close)
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

    print("sleep_burst: 5,000 simultaneous GET /sleep (1 s), one per connection")
    # The parallel path is left out: on 10 threads 5,000 sleeps take 500 s.
    sleepers = [s for s in servers if s.hasSleep and s.name != "hello --parallel"]
    bursts: dict[str, list[tuple[dict[str, float], float]]] = {
        s.name: [] for s in sleepers
    }
    for _ in range(arguments.runs):
        for server in sleepers:
            with Running(server, sleep=1.0) as running:
                outcome = burst(running.port, "/sleep", 5000)
                bursts[server.name].append((outcome, running.memory("VmHWM") / 2**20))
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
    for _ in range(arguments.runs):
        for server in idlers:
            with Running(server) as running:
                idle[server.name].append(idleMemory(running, 5000))
    for server in idlers:
        record(server.name, "idle_bytes_per_conn", idle[server.name])

    if any(s.name == "hello --parallel" for s in servers):
        print("parallel: 40 simultaneous GET /sleep (0.5 s) on T threads")
        parallel = Server(
            "hello --parallel",
            lambda port, sleep, tmp: [],
        )
        for threads in (4, 8, 16):
            parallel.command = lambda port, sleep, tmp, t=threads: twistd(  # type: ignore[misc]
                "hello", "--parallel", "--threads", str(t), "--listen", listen(port),
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
        "machine": f"{os.cpu_count()} CPUs, {platformLine()}",
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


def write(
    out: Path, meta: dict[str, object], results: dict[str, dict[str, object]]
) -> None:
    """
    Render the tables (Markdown, and reStructuredText for the README) and
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


def measuredCommit() -> str:
    """
    The commit of the code measured, marked when the tree had changes.
    """
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "hello_service"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" with uncommitted changes" if dirty else "")


def platformLine() -> str:
    import platform

    return f"Python {platform.python_version()}, {platform.machine()}"


def cell(results: dict[str, dict[str, object]], server: str, key: str, fmt: str) -> str:
    entry = results.get(server, {}).get(key)
    if not isinstance(entry, dict):
        return "n/a"
    return f"{entry['median']:{fmt}} ({entry['min']:{fmt}}–{entry['max']:{fmt}})"


def ratio(
    results: dict[str, dict[str, object]], key: str, peer: str, inverse: bool = False
) -> float | None:
    mine = results.get("hello", {}).get(key)
    theirs = results.get(peer, {}).get(key)
    if not isinstance(mine, dict) or not isinstance(theirs, dict):
        return None
    a, b = mine["median"], theirs["median"]
    if inverse:
        a, b = b, a
    return a / b if b else None  # type: ignore[no-any-return,operator]


#: (label, measurement, peer, ratio needed, lower is better).  The ratios
#: this project set itself against each peer, in its issue tracker.
TARGETS = [
    ("keep-alive req/s vs granian", "keepalive_rps", "granian (RSGI, 1 worker)", 1.0, False),
    ("keep-alive req/s vs nginx", "keepalive_rps", "nginx (1 worker, static)", 1.0, False),
    ("keep-alive req/s vs twisted.web", "keepalive_rps", "twisted.web", 4.0, False),
    ("one-per-connection req/s vs the bare Twisted protocol", "close_rps", "bare Twisted protocol", 0.9, False),
    ("one-per-connection req per CPU-s vs the bare Twisted protocol", "close_per_cpu_s", "bare Twisted protocol", 0.9, False),
    ("one-per-connection req/s vs uvicorn --no-access-log", "close_rps", "uvicorn+httptools --no-access-log", 1.5, False),
    ("one-per-connection req/s vs twisted.web", "close_rps", "twisted.web", 2.5, False),
    ("keep-alive p99 vs granian's (theirs x 1.3 / ours)", "keepalive_p99_ms", "granian (RSGI, 1 worker)", 1.0 / 1.3, True),
    ("idle memory per connection vs twisted.web (theirs / ours)", "idle_bytes_per_conn", "twisted.web", 1.0, True),
]  # fmt: skip


def report(meta: dict[str, object], results: dict[str, dict[str, object]]) -> str:
    servers = list(results)
    lines = [
        f"Measured {meta['date']} at commit {meta.get('commit', 'unknown')} on "
        f"{meta['machine']}; {meta['pinning']}; median of {meta['runs']} runs "
        "(min–max).",
        "",
        "| server | keep-alive req/s | keep-alive req per CPU-s | keep-alive p99 ms "
        "| one per connection req/s | one per connection req per CPU-s | "
        "5,000 × /sleep 1 s: done in s | its peak RSS MB | idle bytes/conn |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for server in servers:
        lines.append(
            f"| {server} | {cell(results, server, 'keepalive_rps', ',.0f')} | "
            f"{cell(results, server, 'keepalive_per_cpu_s', ',.0f')} | "
            f"{cell(results, server, 'keepalive_p99_ms', '.2f')} | "
            f"{cell(results, server, 'close_rps', ',.0f')} | "
            f"{cell(results, server, 'close_per_cpu_s', ',.0f')} | "
            f"{cell(results, server, 'sleep_burst_s', '.2f')} | "
            f"{cell(results, server, 'sleep_burst_peak_mb', '.0f')} | "
            f"{cell(results, server, 'idle_bytes_per_conn', ',.0f')} |"
        )
    lines += [
        "",
        "One request per connection is client-bound near 20k/s on a 2-core machine "
        "(wrk spends its CPU opening connections): figures near that measure wrk.",
        "",
        "| target | ratio (medians, same run) | needed | met |",
        "|---|---|---|---|",
    ]
    for label, key, peer, needed, inverse in TARGETS:
        value = ratio(results, key, peer, inverse)
        if value is None:
            lines.append(f"| {label} | n/a | {needed:.1f}x | n/a |")
        else:
            lines.append(
                f"| {label} | {value:.2f}x | {needed:.1f}x | {'yes' if value >= needed else 'no'} |"
            )
    bursts = {
        s: results[s]["sleep_burst_s"]["median"]  # type: ignore[index]
        for s in servers
        if isinstance(results[s].get("sleep_burst_s"), dict) and s != "hello"
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
    figure.suptitle(f"hello and its peers, {meta['date']}, {meta['machine']}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
