"""
The service manager's protocol (L{hello_service.operations.notify}): the datagrams a
service sends on C{$NOTIFY_SOCKET}, read from a socket the test binds, on
a L{Clock}.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from hello_service.http.counting import RequestCounts, answerKind
from hello_service.operations.notify import (
    STATUS_INTERVAL,
    RequestRate,
    ServiceManager,
    statusLine,
)


class NotifySocket:
    """
    A datagram socket bound where C{$NOTIFY_SOCKET} would name it.
    """

    def __init__(self, test: SynchronousTestCase, abstract: bool = False) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"hello-test-{os.getpid()}-{id(self)}"
            self.socket.bind("\0" + name)
            self.address = "@" + name
        else:
            directory = tempfile.mkdtemp()
            self.address = os.path.join(directory, "notify")
            self.socket.bind(self.address)
        self.socket.setblocking(False)
        test.addCleanup(self.socket.close)

    def messages(self) -> list[dict[str, str]]:
        """
        Every datagram received so far, as its fields.
        """
        found = []
        while True:
            try:
                data = self.socket.recv(4096)
            except BlockingIOError:
                return found
            text = data.decode()
            self.assertWholeLines(text)
            found.append(dict(line.split("=", 1) for line in text.splitlines()))

    @staticmethod
    def assertWholeLines(text: str) -> None:
        assert text.endswith("\n"), text


class ServiceManagerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.listener = NotifySocket(self)

    def manager(self, environ: dict[str, str]) -> ServiceManager:
        return ServiceManager.fromEnvironment(
            {"NOTIFY_SOCKET": self.listener.address, **environ}, self.clock
        )

    def test_lifecycle(self) -> None:
        """
        Ready with a status line, reloading with the monotonic clock's
        microseconds, ready again, stopping.
        """
        manager = self.manager({})
        manager.start(lambda: "serving; 3 requests/s")
        manager.ready()
        manager.reloading()
        manager.ready()
        manager.stopping()
        messages = self.listener.messages()
        self.assertEqual(messages[0], {"READY": "1", "STATUS": "serving; 3 requests/s"})
        self.assertEqual(set(messages[1]), {"RELOADING", "MONOTONIC_USEC"})
        # systemd compares it with its own CLOCK_MONOTONIC.
        usec = int(messages[1]["MONOTONIC_USEC"])
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.assertTrue(now - 1_000_000 < usec <= now, (usec, now))
        self.assertEqual(messages[2]["READY"], "1")
        self.assertEqual(messages[3], {"STOPPING": "1", "STATUS": "draining"})
        manager.stop()

    def test_statusRenewed(self) -> None:
        manager = self.manager({})
        lines = iter(["one", "two"])
        manager.start(lambda: next(lines))
        self.clock.advance(STATUS_INTERVAL)
        self.clock.advance(STATUS_INTERVAL)
        self.assertEqual(
            self.listener.messages(), [{"STATUS": "one"}, {"STATUS": "two"}]
        )
        manager.stop()
        self.clock.advance(STATUS_INTERVAL)
        self.assertEqual(self.listener.messages(), [])

    def test_watchdogAtHalfTheInterval(self) -> None:
        """
        C{WATCHDOG=1} every half of C{$WATCHDOG_USEC}, from the reactor's
        clock; none after the stop.
        """
        manager = self.manager({"WATCHDOG_USEC": "2000000"})
        manager.start(lambda: "s")
        self.clock.advance(0.99)
        self.assertEqual(self.listener.messages(), [])
        self.clock.advance(0.01)
        self.assertEqual(self.listener.messages(), [{"WATCHDOG": "1"}])
        self.clock.advance(1.0)
        self.assertEqual(self.listener.messages(), [{"WATCHDOG": "1"}])
        manager.stop()
        self.clock.advance(5)
        self.assertEqual(self.listener.messages(), [])

    def test_watchdogForAnotherProcess(self) -> None:
        """
        A C{$WATCHDOG_PID} that is not this process's: no watchdog here.
        """
        manager = self.manager(
            {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid() + 1)}
        )
        manager.start(lambda: "s")
        self.clock.advance(3)
        self.assertEqual(self.listener.messages(), [])
        mine = self.manager(
            {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
        )
        mine.start(lambda: "s")
        self.clock.advance(1)
        self.assertEqual(self.listener.messages(), [{"WATCHDOG": "1"}])
        manager.stop()
        mine.stop()

    def test_abstractSocket(self) -> None:
        abstract = NotifySocket(self, abstract=True)
        manager = ServiceManager.fromEnvironment(
            {"NOTIFY_SOCKET": abstract.address}, self.clock
        )
        manager.ready()
        self.assertEqual(abstract.messages(), [{"READY": "1"}])
        manager.stop()

    def test_nobodyListening(self) -> None:
        """
        Without C{$NOTIFY_SOCKET}, nothing is sent and nothing runs.
        """
        manager = ServiceManager.fromEnvironment({"WATCHDOG_USEC": "1000"}, self.clock)
        self.assertFalse(manager.listening)
        manager.start(lambda: "s")
        manager.ready()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_unreachableSaidOnce(self) -> None:
        """
        A socket nobody reads any more: one log line, no exception.
        """
        manager = ServiceManager("/nonexistent/notify", self.clock)
        with capturedLogs() as events:
            manager.ready()
            manager.ready()
        self.assertEqual(
            [formatEvent(e) for e in events],
            [
                "cannot tell the service manager at /nonexistent/notify: "
                "No such file or directory"
            ],
        )


class StatusLineTests(SynchronousTestCase):
    def test_line(self) -> None:
        counts = RequestCounts()
        clock = Clock()
        rate = RequestRate(clock)
        self.assertEqual(rate.update(counts.figures()), 0.0)
        counts.answered[answerKind("/", b"200")] += 2500
        clock.advance(2)
        figures = counts.figures(hello_connections_open=1234)
        self.assertEqual(
            statusLine("2 of 2 workers serving", figures, rate.update(figures)),
            "2 of 2 workers serving; 1,250 requests/s; 1,234 connections open",
        )
