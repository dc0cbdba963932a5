# -*- test-case-name: tests.test_shutdown -*-
"""
Graceful shutdown: stop accepting, let requests in flight finish within the
shutdown timeout, then stop.
"""

from __future__ import annotations

import re
import signal
import socket
import time

from twisted.internet.defer import ensureDeferred
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase, TestCase

from ..support.launching import readByServer
from ..support.processes import readUntilClosed, startHello
from ..support.tcp import exchange, portOf, reactor, startService
from ..support.waiting import until

SLEEP = b"GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n"


class SignalTests(SynchronousTestCase):
    """
    A real C{twistd -n hello} process given SIGTERM or SIGINT.
    """

    def drainOnSignal(self, number: int, *arguments: str) -> None:
        """
        Two C{/sleep} requests in flight at the signal both get 200 with
        C{Connection: close}; a new connection is refused; the process ends
        as twistd does after that signal, with no traceback, saying how many
        requests it drained.
        """
        process = startHello(self, "--sleep", "1.5", *arguments)
        port = process.port()
        clients = [socket.create_connection(("127.0.0.1", port), timeout=1)]
        clients.append(socket.create_connection(("127.0.0.1", port), timeout=1))
        for client in clients:
            self.addCleanup(client.close)
            client.sendall(SLEEP)
        until(lambda: readByServer(port, 2), 10, "both requests read by the server")
        signalled = time.monotonic()
        process.signal(number)
        process.waitFor("stopped listening")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        for client in clients:
            answer = readUntilClosed(client, 5)
            self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer)
            self.assertIn(b"\r\nConnection: close\r\n", answer)
        self.assertEqual(process.wait(10), -number)
        self.assertLess(time.monotonic() - signalled, 3.0)
        log = process.output
        self.assertNotIn("Traceback", log)
        self.assertRegex(log, r"draining 2 connections with 2 requests in flight")
        self.assertTrue(re.search(r"drained 2 requests in \d", log), log)

    def test_sigterm(self) -> None:
        """
        SIGTERM drains the requests in flight, then ends the process.
        """
        self.drainOnSignal(signal.SIGTERM)

    def test_sigint(self) -> None:
        """
        SIGINT (Ctrl-C) drains exactly as SIGTERM does.
        """
        self.drainOnSignal(signal.SIGINT)

    def test_sigtermInParallelMode(self) -> None:
        """
        In parallel mode the requests sleeping in worker threads finish
        too, and the thread pool stops after them: the process exits.
        """
        self.drainOnSignal(signal.SIGTERM, "--parallel", "--threads", "2")


class ShutdownTimeoutTests(TestCase):
    """
    The drain is bounded by --shutdown-timeout.
    """

    async def test_leftoversClosedAfterTimeout(self) -> None:
        """
        A request still running when the timeout ends is cut off, and the
        number of connections closed is logged.
        """
        service = startService(self, "--sleep", "30", "--shutdown-timeout", "0.3")
        pending = exchange(portOf(service), SLEEP)
        await ensureDeferred(_wait(0.1))
        started = reactor().seconds()
        with capturedLogs() as events:
            await service.stopService()
        answer, closed = await pending
        self.assertEqual(answer, b"")
        self.assertTrue(0.25 <= closed - started < 1.0, closed - started)
        warnings = [e for e in events if e["log_level"].name == "warn"]
        self.assertEqual([e["count"] for e in warnings], [1])
        self.assertEqual(
            [
                call
                for call in reactor().getDelayedCalls()
                if not call.func.__qualname__.startswith("TestCase.")  # trial's own
            ],
            [],
        )

    async def test_idleConnectionsClosedAfterTheGrace(self) -> None:
        """
        Idle keep-alive connections hold up the stop by the drain grace
        (1 s, for a request their client may be sending), not longer.
        """
        service = startService(self, "--shutdown-timeout", "5")
        idle = exchange(portOf(service), b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await ensureDeferred(_wait(0.2))
        started = reactor().seconds()
        await service.stopService()
        answer, closed = await idle
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertGreaterEqual(closed - started, 0.99)
        self.assertLess(closed - started, 1.5)


async def _wait(seconds: float) -> None:
    from twisted.internet.task import deferLater

    await deferLater(reactor(), seconds, lambda: None)
