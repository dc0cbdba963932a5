"""
Starting a C{twistd -n hello} process (or any server) and stopping it by its
PID, the one way the tests and the benchmarks launch a server
(L{ServerProcess}); and the kernel's word on which process holds which
connection (L{connectionsByProcess}).  Only the standard library: the
benchmarks import it from here too.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The checkout these tests belong to.
ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable

#: C{twistd -n --pidfile=}, run by this interpreter.
TWISTD = [
    PYTHON,
    "-c",
    "from twisted.scripts.twistd import run; run()",
    "-n",
    "--pidfile=",
]

#: The line that says the whole service serves: one process's, or with
#: C{--workers} the supervisor's once every worker serves (never a worker's
#: own line, which carries C{worker=N} in its log prefix: a signal sent at
#: that moment would find the supervisor still starting).  The lesson's
#: programs say it in a line of their own.
_SERVING = re.compile(
    r"(?m)^(?![^\n]*worker=\d)[^\n]*?serving on [\w:]+?:127\.0\.0\.1:(\d+)"
)


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


def pinned(cpu: str | None, command: Sequence[str]) -> list[str]:
    """
    C{command} run on CPU C{cpu}, where there are two CPUs or more.
    """
    if cpu is not None and (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", cpu, *command]
    return list(command)


def _interruptible() -> None:
    """
    In the child, before it runs: SIGINT as a terminal's foreground command
    gets it.  A suite run in the background (C{&} without job control, as a
    script or CI may start it) ignores SIGINT, its children inherit that,
    and a server that inherits it rightly keeps ignoring it (Twisted leaves
    an ignored SIGINT alone), so a test of Ctrl-C would wait in vain.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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
        popen.setdefault("preexec_fn", _interruptible)
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
        The TCP port a hello process serves on, from the line that says
        the whole service serves.
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


def _established(port: int) -> list[list[str]]:
    """
    The kernel's rows (C{/proc/net/tcp} and C{tcp6}) of the established
    TCP connections whose local port is C{port}: the server's ends.
    """
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            localPort = int(fields[1].rsplit(":", 1)[1], 16)
            if localPort == port and fields[3] == "01":  # ESTABLISHED
                rows.append(fields)
    return rows


def readByServer(port: int, count: int) -> bool:
    """
    Whether C{count} connections to local C{port} are established and the
    server has read every byte sent on them (nothing waits in their
    receive queues): what a client sent has reached the server's code,
    a moment a test can wait for instead of sleeping on it.
    """
    rows = _established(port)
    return len(rows) >= count and all(
        int(row[4].split(":")[1], 16) == 0 for row in rows
    )


def connectionsByProcess(port: int, pids: list[int]) -> dict[int, int]:
    """
    How many established TCP connections to local C{port} each process of
    C{pids} holds, read from C{/proc}: the kernel's word on which worker
    took which connection.
    """
    inodes = {fields[9] for fields in _established(port)}
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
