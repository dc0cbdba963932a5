"""
Real C{twistd -n hello} processes for the tests that need one: what the
command line does, signals, descriptor limits, socket activation.

Every process runs this checkout's code, whatever copy of the package is
installed (L{CHECKOUT} leads C{PYTHONPATH}), binds a port of its own choice
(C{tcp:0}) that the test reads back from its start-up line, and is stopped
by its PID when the test ends.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SkipTest, SynchronousTestCase

#: The root of the checkout these tests belong to.
CHECKOUT = Path(__file__).resolve().parent.parent.parent

#: C{twistd -n --pidfile=}, run by the interpreter running the tests.
TWISTD = [
    sys.executable,
    "-c",
    "from twisted.scripts.twistd import run; run()",
    "-n",
    "--pidfile=",
]

#: Where a test server listens unless told otherwise: a port the kernel
#: chooses, so no port is probed, released and raced for.
ANY_PORT = "tcp:0:interface=127.0.0.1:backlog=1024"

_SERVING = re.compile(r"serving on \w+:127\.0\.0\.1:(\d+)")


def checkoutEnvironment(**extra: str) -> dict[str, str]:
    """
    The environment of a child that must import this checkout's
    C{hello_service} and plugin before any installed copy.

    Under mutation testing (C{mutmut} sets C{MUTANT_UNDER_TEST}) the test is
    skipped: a child would import the mutated copy without mutmut's set-up,
    and mutmut only credits what runs in its own process anyway.
    """
    if "MUTANT_UNDER_TEST" in os.environ:
        raise SkipTest("real processes are not run under mutation testing")
    environment = dict(os.environ)
    inherited = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = (
        f"{CHECKOUT}{os.pathsep}{inherited}" if inherited else str(CHECKOUT)
    )
    environment.update(extra)
    return environment


def takenPort(test: SynchronousTestCase) -> int:
    """
    A TCP port of 127.0.0.1 that something listens on until the test ends.
    """
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    test.addCleanup(taken.close)
    return int(taken.getsockname()[1])


class HelloProcess:
    """
    A running C{twistd -n hello}, its output collected as it comes (so the
    pipe never fills), killed by its PID when the test ends if it is still
    running.
    """

    def __init__(
        self,
        test: SynchronousTestCase,
        *arguments: str,
        wrapper: Sequence[str] = (),
        **popen: Any,
    ) -> None:
        """
        @param wrapper: a command that runs twistd (as
            C{systemd-socket-activate} does), before twistd's own words.
        """
        popen.setdefault("env", checkoutEnvironment())
        self.process = subprocess.Popen(
            [*wrapper, *TWISTD, "hello", *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            **popen,
        )
        self.pid = self.process.pid
        self._output: list[bytes] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()
        test.addCleanup(self.kill)

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self._output.append(line)
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
                        f"no {pattern!r} in the output of twistd:\n{self.output}"
                    )
                self._changed.wait(min(left, 0.5))

    def port(self, seconds: float = 20) -> int:
        """
        The TCP port it serves on, from its start-up line.
        """
        return int(self.waitFor(_SERVING.pattern, seconds).group(1))

    def signal(self, number: int) -> None:
        os.kill(self.pid, number)

    def wait(self, seconds: float = 20) -> int:
        """
        Wait for the process to end; its exit status.
        """
        status = self.process.wait(seconds)
        self._reader.join(seconds)
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def startHello(
    test: SynchronousTestCase, *arguments: str, **popen: Any
) -> HelloProcess:
    """
    Start C{twistd -n hello ARGUMENTS}, on L{ANY_PORT} unless the arguments
    say where to listen.
    """
    if "--listen" not in arguments:
        arguments = ("--listen", ANY_PORT, *arguments)
    return HelloProcess(test, *arguments, **popen)


def runHello(*arguments: str) -> subprocess.CompletedProcess[str]:
    """
    Run C{twistd -n hello ARGUMENTS} to its end (for start-up errors and
    C{--help}), this checkout's code.
    """
    return subprocess.run(
        [*TWISTD, "hello", *arguments],
        capture_output=True,
        text=True,
        timeout=30,
        env=checkoutEnvironment(),
    )


def request(port: int, data: bytes, timeout: float = 10) -> bytes:
    """
    Send C{data} on a new connection and read until the server closes.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(data)
        return readUntilClosed(client, timeout)


def readUntilClosed(connection: socket.socket, timeout: float) -> bytes:
    """
    Everything C{connection} receives until the server closes it.
    """
    connection.settimeout(timeout)
    chunks = []
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


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


def openConnections(port: int, count: int, timeout: float = 10) -> list[socket.socket]:
    """
    Open C{count} connections at once, then make one keep-alive request on
    each (so every one is accepted and served); the open sockets.
    """
    clients = []
    for _ in range(count):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        clients.append(client)
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    for client in clients:
        client.setblocking(True)
        client.settimeout(timeout)
        client.sendall(request)
    for client in clients:
        answer = client.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:40]
    return clients
