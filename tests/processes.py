"""
Real C{twistd -n hello} processes for the tests that need one: what the
command line does, signals, descriptor limits, socket activation.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

#: C{twistd -n --pidfile=}, run by the interpreter running the tests.
TWISTD = [
    sys.executable,
    "-c",
    "from twisted.scripts.twistd import run; run()",
    "-n",
    "--pidfile=",
]


def freePort() -> int:
    """
    A TCP port of 127.0.0.1 nobody listens on (a moment ago).
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def takenPort(test: SynchronousTestCase) -> int:
    """
    A TCP port of 127.0.0.1 that something listens on until the test ends.
    """
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    test.addCleanup(taken.close)
    return int(taken.getsockname()[1])


def startHello(
    test: SynchronousTestCase, *arguments: str, **popen: Any
) -> subprocess.Popen[bytes]:
    """
    Start C{twistd -n hello ARGUMENTS}, its output collected, killed when
    the test ends if it is still running.
    """
    process = subprocess.Popen(
        [*TWISTD, "hello", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **popen,
    )
    test.addCleanup(process.kill)
    return process


def connectWhenListening(port: int, seconds: float = 20) -> socket.socket:
    """
    Connect to C{port} of 127.0.0.1 as soon as a server listens there.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=1)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
