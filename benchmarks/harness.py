"""
What every measurement here needs, and the tests too: starting a server
process and stopping it by its PID (L{ServerProcess}, the one way a server
process is launched, by the benchmarks and by C{tests.support.processes}),
pinning to a CPU, the CPU time and memory of a server's processes from
C{/proc}, the load generators (wrk, L{burst}, idle connections), and the
interleaving of rounds across servers.
"""

from __future__ import annotations

import json
import os
import re
import resource
import socket
import statistics
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tests.support.launching import (  # noqa: F401 (the launcher, shared)
    PYTHON,
    ROOT,
    TWISTD,
    ServerProcess,
    checkoutEnvironment,
    connectionsByProcess,
    helloCommand,
    pinned,
)

#: The benchmarks folder.
HERE = Path(__file__).resolve().parent
BIN = Path(PYTHON).parent

#: Where servers and load generators run when there are two CPUs or more.
SERVER_CPU = "0"
CLIENT_CPU = "1"

Item = TypeVar("Item")


def listen(port: int) -> str:
    """
    The C{--listen} description of a benchmark server on 127.0.0.1.
    """
    return f"tcp:{port}:interface=127.0.0.1:backlog=4096"


def freePort() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpuSeconds(pids: Iterable[int]) -> float:
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


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(
    port: int,
    seconds: float,
    close: bool,
    connections: int = 50,
    cpu: str | None = CLIENT_CPU,
) -> dict[str, float]:
    """
    C{wrk -t1} on C{GET /}: requests per second, requests, p99 and errors.
    """
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if close:
        command += ["-H", "Connection: close"]
    command.append(f"http://127.0.0.1:{port}/")
    output = subprocess.run(
        pinned(cpu, command), capture_output=True, text=True, timeout=seconds + 30
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


def measuredWrk(
    server: ServerProcess, port: int, seconds: float, close: bool, **options: Any
) -> dict[str, float]:
    """
    L{wrk} against a running server, with the requests it answered per
    CPU-second of its processes: steadier than requests per second on a
    shared machine.
    """
    pids = server.pids()
    before = cpuSeconds(pids)
    clientBefore = _childrenCPUSeconds()
    outcome = wrk(port, seconds, close, **options)
    cpu = cpuSeconds(pids) - before
    outcome["per_cpu_second"] = outcome["requests"] / cpu if cpu else float("nan")
    outcome["server_cpu_share"] = cpu / seconds
    outcome["client_cpu_share"] = (_childrenCPUSeconds() - clientBefore) / seconds
    return outcome


#: A side using at least this share of a CPU during a run was its limit.
SATURATED = 0.9


def limitOf(serverShare: float, clientShare: float) -> str:
    """
    Which side limited a run, by the CPU each used of its own core: the
    server, the load generator (wrk), or neither (both waited: latency,
    the kernel, or each other).
    """
    if serverShare >= SATURATED:
        return "server"
    if clientShare >= SATURATED:
        return "wrk"
    return "neither"


def _childrenCPUSeconds() -> float:
    """
    The CPU time of this process's ended children (wrk, once it has run).
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def burst(port: int, path: str, count: int) -> dict[str, float]:
    """
    C{count} simultaneous requests for C{path} from C{burst.py}.
    """
    command = [PYTHON, str(ROOT / "tests" / "support" / "burst.py"), "--port", str(port), "--path", path,
               "--count", str(count), "--deadline", "60"]  # fmt: skip
    output = subprocess.run(
        pinned(CLIENT_CPU, command), capture_output=True, text=True, timeout=120
    ).stdout
    return json.loads(output)  # type: ignore[no-any-return]


_IDLE_CLIENT = r"""
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
held = []
for _ in range(count):
    held.append(socket.create_connection(("127.0.0.1", port)))
print("ready", flush=True)
sys.stdin.readline()
"""


def idleMemory(server: ServerProcess, port: int, count: int) -> float:
    """
    RSS growth per idle connection: open C{count} connections that send
    nothing, wait for the server to accept them, divide the growth.
    """
    before = server.memory()
    client = subprocess.Popen(
        pinned(CLIENT_CPU, [PYTHON, "-c", _IDLE_CLIENT, str(port), str(count)]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout is not None and client.stdin is not None
        client.stdout.readline()
        time.sleep(1.5)
        after = server.memory()
        client.stdin.write("\n")
        client.stdin.flush()
        client.wait(30)
    finally:
        if client.poll() is None:
            client.kill()
    return (after - before) / count


def interleaved(rounds: int, items: Sequence[Item]) -> Iterator[tuple[int, Item]]:
    """
    Every item once, then every item again, C{rounds} times: so that a slow
    moment of a shared machine does not fall on one server.
    """
    for round in range(rounds):
        for item in items:
            yield round, item


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measuredCommit(paths: tuple[str, ...] = ("hello_service",)) -> str:
    """
    The commit of the code measured, marked when C{paths} (the code
    measured) had changes.
    """
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", *paths],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" with uncommitted changes" if dirty else "")


def platformLine() -> str:
    """
    The machine measured on: its CPUs (their model, and whether they are a
    virtual machine's), its kernel and the Python measured with.
    """
    import platform

    import twisted

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    virtual = re.search(r"^flags\s*:.*\bhypervisor\b", cpuinfo, re.MULTILINE)
    kind = "virtual" if virtual else "physical"
    described = f", {model.group(1).strip()}" if model else ""
    return (
        f"{os.cpu_count()} {kind} CPUs{described}, {platform.machine()}, "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"Twisted {twisted.__version__}"
    )
