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
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

#: The benchmarks folder, and the checkout it belongs to.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent

#: Where servers and load generators run when there are two CPUs or more.
SERVER_CPU = "0"
CLIENT_CPU = "1"

#: C{twistd -n --pidfile=}, run by this interpreter.
TWISTD = [
    PYTHON,
    "-c",
    "from twisted.scripts.twistd import run; run()",
    "-n",
    "--pidfile=",
]

_SERVING = re.compile(r"serving on [\w:]+?:127\.0\.0\.1:(\d+)")

Item = TypeVar("Item")


def checkoutEnvironment(**extra: str) -> dict[str, str]:
    """
    The environment of a child that must import this checkout's
    C{hello_service} and plugin before any installed copy.
    """
    environment = dict(os.environ)
    inherited = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = (
        f"{ROOT}{os.pathsep}{inherited}" if inherited else str(ROOT)
    )
    environment.update(extra)
    return environment


def helloCommand(*arguments: str, reactor: str | None = None) -> list[str]:
    """
    C{twistd -n --pidfile= [-r REACTOR] hello ARGUMENTS}, by this
    interpreter (run it with L{checkoutEnvironment} for this checkout's
    code).
    """
    named = ["-r", reactor] if reactor else []
    return [*TWISTD, *named, "hello", *arguments]


def listen(port: int) -> str:
    """
    The C{--listen} description of a benchmark server on 127.0.0.1.
    """
    return f"tcp:{port}:interface=127.0.0.1:backlog=4096"


def pinned(cpu: str | None, command: Sequence[str]) -> list[str]:
    """
    C{command} run on CPU C{cpu}, where there are two CPUs or more.
    """
    if cpu is not None and (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", cpu, *command]
    return list(command)


def freePort() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """
    A server process, its output collected as it comes (so the pipe never
    fills), stopped by its PID.
    """

    def __init__(
        self, command: Sequence[str], cpu: str | None = None, **popen: Any
    ) -> None:
        """
        @param cpu: the CPU to pin it to (see L{pinned}), or L{None}.
        @param popen: more arguments for C{subprocess.Popen} (C{env}, C{cwd}).
        """
        self.process = subprocess.Popen(
            pinned(cpu, command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            **popen,
        )
        self.pid = self.process.pid
        self._output: list[bytes] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        # In chunks as they come, not line by line: a server logging every
        # request writes tens of thousands of lines a second, and a thread
        # taking each on its own would spend a tenth of a core of this
        # machine's two, beside the server it measures.
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        while chunk := os.read(descriptor, 1 << 16):
            with self._changed:
                self._output.append(chunk)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        """
        Everything the process has written so far.
        """
        with self._changed:
            return b"".join(self._output).decode("utf-8", "replace")

    def waitFor(
        self, pattern: str, seconds: float = 20, after: int = 0
    ) -> re.Match[str]:
        """
        Wait until the output (from offset C{after} on) matches C{pattern};
        fail (with the output) if it does not within C{seconds} or the
        process ends first.
        """
        deadline = time.monotonic() + seconds
        compiled = re.compile(pattern)
        with self._changed:
            while True:
                text = b"".join(self._output).decode("utf-8", "replace")
                found = compiled.search(text, after)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise AssertionError(
                        f"no {pattern!r} in the output of the server:\n{self.output}"
                    )
                self._changed.wait(min(left, 0.5))

    def port(self, seconds: float = 20) -> int:
        """
        The TCP port a hello process serves on, from its start-up line.
        """
        return int(self.waitFor(_SERVING.pattern, seconds).group(1))

    def waitForPort(self, port: int, seconds: float = 20) -> None:
        """
        Wait until the server accepts connections on C{port}.
        """
        deadline = time.monotonic() + seconds
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the server did not listen on {port}:\n{self.output[-2000:]}"
                    ) from None
                time.sleep(0.1)

    def signal(self, number: int) -> None:
        os.kill(self.pid, number)

    def wait(self, seconds: float = 20) -> int:
        """
        Wait for the process to end; its exit status.
        """
        status = self.process.wait(seconds)
        self._reader.join(seconds)
        return status

    def pids(self) -> list[int]:
        """
        The process and its descendants (nginx's or the supervisor's
        workers), from C{/proc}.
        """
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, waiting = [], [self.pid]
        while waiting:
            pid = waiting.pop()
            found.append(pid)
            waiting += children.get(pid, [])
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

    def kill(self) -> None:
        """
        End it now, if it still runs (SIGKILL), and close its output.
        """
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self, seconds: float = 10) -> None:
        """
        End it gracefully (SIGTERM), killing it after C{seconds}, and any
        process it left behind.
        """
        family = self.pids()
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(seconds)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        for pid in family[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


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
    command = [PYTHON, str(HERE / "burst.py"), "--port", str(port), "--path", path,
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


def connectionsByProcess(port: int, pids: list[int]) -> dict[int, int]:
    """
    How many established TCP connections to local C{port} each process of
    C{pids} holds, read from C{/proc}: the kernel's word on which worker
    took which connection.
    """
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            localPort = int(fields[1].rsplit(":", 1)[1], 16)
            if localPort == port and fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    counts = {}
    for pid in pids:
        held = 0
        for entry in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(entry)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held += 1
        counts[pid] = held
    return counts


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
