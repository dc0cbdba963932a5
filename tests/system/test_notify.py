"""
systemd's notify protocol from real processes, read from a C{NOTIFY_SOCKET}
the test binds (with C{SO_PASSCRED}, so each datagram carries its sender's
PID, as systemd's C{NotifyAccess=main} checks it): C{READY=1} once serving,
C{RELOADING=1} and C{READY=1} around SIGHUP, C{WATCHDOG=1} at half of
C{WATCHDOG_USEC} that stops while the process is stopped, and
C{STOPPING=1} on SIGTERM; in one process and with workers, every message
from the main process.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import tempfile
import time

from twisted.trial.unittest import SynchronousTestCase

from ..support.processes import checkoutEnvironment, request, startHello

GET = b"GET / HTTP/1.1\r\nHost: notify\r\nConnection: close\r\n\r\n"

#: The watchdog interval the tests give: a message every 0.3 s.
WATCHDOG_USEC = 600_000


class Listener:
    """
    The service manager's end: a datagram socket, and what came on it
    with the sender's PID and when.
    """

    def __init__(self, test: SynchronousTestCase) -> None:
        directory = tempfile.mkdtemp()
        self.address = os.path.join(directory, "notify")
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.socket.bind(self.address)
        test.addCleanup(self.socket.close)
        #: (arrival, sender PID, fields) of every datagram read so far.
        self.received: list[tuple[float, int, dict[str, str]]] = []

    def collect(self, seconds: float) -> None:
        """
        Read for C{seconds}.
        """
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.socket.settimeout(left)
            try:
                data, ancillary, _, _ = self.socket.recvmsg(
                    4096, socket.CMSG_SPACE(struct.calcsize("3i"))
                )
            except TimeoutError:
                return
            pid = -1
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", payload[: struct.calcsize("3i")])[0]
            text = data.decode()
            assert text.endswith("\n"), text
            fields = dict(line.split("=", 1) for line in text.splitlines())
            self.received.append((time.monotonic(), pid, fields))

    def waitFor(self, key: str, since: int = 0, seconds: float = 20) -> dict[str, str]:
        """
        Read until a datagram with C{key} has come, from datagram C{since}
        on; its fields.
        """
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _, _, fields in self.received[since:]:
                if key in fields:
                    return fields
            self.collect(0.1)
        raise AssertionError(f"no {key} within {seconds} s: {self.received}")

    def keys(self, since: int = 0) -> list[str]:
        """
        The non-watchdog messages' keys, in order, from datagram C{since}.
        """
        return [
            "+".join(sorted(k for k in fields if k != "STATUS"))
            for _, _, fields in self.received[since:]
            if "WATCHDOG" not in fields and set(fields) != {"STATUS"}
        ]

    def watchdogTimes(self, since: float) -> list[float]:
        return [
            at
            for at, _, fields in self.received
            if "WATCHDOG" in fields and at >= since
        ]


class NotifyMixin:
    arguments: tuple[str, ...] = ()

    def test_lifecycle(self) -> None:
        listener = Listener(self)  # type: ignore[arg-type]
        environment = checkoutEnvironment(
            NOTIFY_SOCKET=listener.address, WATCHDOG_USEC=str(WATCHDOG_USEC)
        )
        process = startHello(self, *self.arguments, "--no-access-log", env=environment)  # type: ignore[arg-type]
        ready = listener.waitFor("READY")
        # Ready means serving: the start-up line is out and / answers.
        port = process.port(1)
        self.assertTrue(request(port, GET).startswith(b"HTTP/1.1 200 OK"))
        self.assertIn("serving", ready["STATUS"])
        self.assertIn("requests/s", ready["STATUS"])

        # The watchdog: every 0.3 s from the main process.
        start = time.monotonic()
        listener.collect(1.5)
        beats = listener.watchdogTimes(start)
        self.assertGreaterEqual(len(beats), 3, listener.received)
        gaps = [b - a for a, b in zip(beats, beats[1:], strict=False)]
        self.assertLess(max(gaps), 0.6, gaps)

        # Stopped, it sends none; continued, it does again.
        process.signal(signal.SIGSTOP)
        try:
            stopped = time.monotonic()
            listener.collect(1.0)
            self.assertEqual(listener.watchdogTimes(stopped), [])
        finally:
            process.signal(signal.SIGCONT)
        continued = time.monotonic()
        listener.collect(1.0)
        self.assertGreaterEqual(len(listener.watchdogTimes(continued)), 1)

        # SIGHUP: reloading, then ready again.
        before = len(listener.received)
        process.signal(signal.SIGHUP)
        reloading = listener.waitFor("RELOADING", before)
        listener.waitFor("READY", before + 1)
        self.assertEqual(listener.keys(before), ["MONOTONIC_USEC+RELOADING", "READY"])
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.assertLess(now - int(reloading["MONOTONIC_USEC"]), 20_000_000)

        # SIGTERM: stopping, and the process ends.
        process.signal(signal.SIGTERM)
        listener.waitFor("STOPPING", before)
        process.wait(30)
        self.assertEqual(listener.keys()[0], "READY")
        self.assertEqual(listener.keys()[-1], "STOPPING")
        self.assertEqual({pid for _, pid, _ in listener.received}, {process.pid})

    def test_nothingWithoutTheVariable(self) -> None:
        """
        Without C{NOTIFY_SOCKET} the service serves as before, and nothing
        is sent where a socket would be.
        """
        listener = Listener(self)  # type: ignore[arg-type]
        process = startHello(self, *self.arguments, "--no-access-log")  # type: ignore[arg-type]
        port = process.port()
        self.assertTrue(request(port, GET).startswith(b"HTTP/1.1 200 OK"))
        listener.collect(0.5)
        self.assertEqual(listener.received, [])


class OneProcessNotifyTests(NotifyMixin, SynchronousTestCase):
    pass


class WorkersNotifyTests(NotifyMixin, SynchronousTestCase):
    arguments = ("--workers", "2")
