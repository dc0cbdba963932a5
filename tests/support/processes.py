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
import socket
import subprocess
from collections.abc import Sequence
from typing import Any

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from . import launching
from .launching import (  # noqa: F401 (connectionsByProcess: for the tests)
    ROOT,
    ServerProcess,
    connectionsByProcess,
    helloCommand,
)

#: The variable that names the reactor the processes the tests start run
#: on: pytest's run names Twisted's (C{tests/conftest.py}), trial's none, so
#: the process tests run on hello's reactor under trial and on Twisted's
#: under pytest.
TWISTD_REACTOR = "HELLO_TEST_TWISTD_REACTOR"

#: The root of the checkout these tests belong to.
CHECKOUT = ROOT

#: Where a test server listens unless told otherwise: a port the kernel
#: chooses, so no port is probed, released and raced for.
ANY_PORT = "tcp:0:interface=127.0.0.1:backlog=1024"


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
    return launching.checkoutEnvironment(**extra)


def takenPort(test: SynchronousTestCase) -> int:
    """
    A TCP port of 127.0.0.1 that something listens on until the test ends.
    """
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    test.addCleanup(taken.close)
    return int(taken.getsockname()[1])


class HelloProcess(ServerProcess):
    """
    A running C{twistd -n hello} of this checkout (L{ServerProcess}, the one
    launcher the tests and the benchmarks share), killed by its PID when the
    test ends if it is still running.
    """

    def __init__(
        self,
        test: SynchronousTestCase,
        *arguments: str,
        wrapper: Sequence[str] = (),
        twistdOptions: Sequence[str] = (),
        reactor: str | None = None,
        **popen: Any,
    ) -> None:
        """
        @param wrapper: a command that runs twistd (as
            C{systemd-socket-activate} does), before twistd's own words.
        @param twistdOptions: twistd's own options, before C{hello}.
        @param reactor: the reactor to name with C{-r}: by default, the one
            L{TWISTD_REACTOR} names, if any (twistd's own default, hello's
            reactor, otherwise).
        """
        if reactor is None:
            reactor = os.environ.get(TWISTD_REACTOR, "")
        if reactor:
            twistdOptions = ["-r", reactor, *twistdOptions]
        popen.setdefault("env", checkoutEnvironment())
        command = [*launching.TWISTD, *twistdOptions, "hello", *arguments]
        super().__init__([*wrapper, *command], **popen)
        test.addCleanup(self.kill)

    def adminPort(self, seconds: float = 20) -> int:
        """
        The port of the admin site (C{--admin tcp:0:...}), from the line
        the process says as it binds it, before anything serves.
        """
        found = self.waitFor(r"admin site listening on tcp:[^ ]*?:(\d+)", seconds)
        return int(found.group(1))


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
        helloCommand(*arguments),
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
