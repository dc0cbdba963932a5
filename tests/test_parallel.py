# -*- test-case-name: tests.test_parallel -*-
"""
The parallel path: each request's work in a thread pool through
C{deferToThreadPool}, the answer written on the reactor thread.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from twisted.internet.defer import gatherResults
from twisted.internet.task import Clock, deferLater
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase, TestCase

from hello_service import responders
from hello_service.pages import loadPages
from hello_service.responders import ParallelResponder

from .support.builders import connect, get, makeFactory
from .support.doubles import ImmediateReactor, QueueingThreadPool
from .support.tcp import closing, exchange, portOf, reactor, startService


class QueuedWorkTests(SynchronousTestCase):
    """
    With a thread pool the test releases by hand, the ordering rules are
    seen step by step.
    """

    def setUp(self) -> None:
        directory = Path(self.mktemp())
        directory.mkdir()
        (directory / "hello.html").write_bytes(b"hello from disk\n")
        (directory / "404.html").write_bytes(b"missing\n")
        self.directory = directory
        self.pool = QueueingThreadPool()
        self.clock = Clock()
        responder = ParallelResponder(
            loadPages(directory),
            0.0,
            ImmediateReactor(),  # type: ignore[arg-type]
            self.pool,  # type: ignore[arg-type]
        )
        self.protocol, self.transport = connect(
            makeFactory(self.clock, responder=responder)
        )

    def test_inFlightUntilWorkFinishes(self) -> None:
        """
        Nothing is written while the work is queued; the page read by the
        work, once it finishes.
        """
        self.protocol.dataReceived(get())
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(len(self.pool.queued), 1)
        self.pool.finish()
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertTrue(self.transport.value().endswith(b"\r\n\r\nhello from disk\n"))

    def test_editedPageServedWithoutRestart(self) -> None:
        """
        The work reads the page for every request.
        """
        self.protocol.dataReceived(get())
        (self.directory / "hello.html").write_bytes(b"edited\n")
        self.pool.finish()
        self.assertTrue(self.transport.value().endswith(b"\r\n\r\nedited\n"))

    def test_orderAcrossCompletions(self) -> None:
        """
        Pipelined requests answer in arrival order, whatever order their work
        finishes in.
        """
        self.protocol.dataReceived(get(b"/a") + get() + get(b"/b"))
        self.assertEqual(len(self.pool.queued), 3)
        self.pool.finish(2)
        self.pool.finish(1)
        self.assertEqual(self.transport.value(), b"")
        self.pool.finish(0)
        value = self.transport.value()
        self.assertEqual(
            re.findall(rb"HTTP/1\.1 (\d{3})", value), [b"404", b"200", b"404"]
        )
        self.assertLess(value.index(b"missing\n"), value.index(b"hello from disk\n"))

    def test_disconnectDiscardsLateResult(self) -> None:
        """
        A client gone before its work finishes gets nothing written, and the
        late result logs no error.
        """
        with capturedLogs() as events:
            self.protocol.dataReceived(get(b"/sleep"))
            self.protocol.connectionLost(None)
            self.pool.finish()
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual([e for e in events if e["log_level"].name != "info"], [])

    def test_failedWorkAnswers500(self) -> None:
        """
        Work that fails (a page deleted at run time) answers 500, logs one
        line, and closes.
        """
        (self.directory / "hello.html").unlink()
        with capturedLogs() as events:
            self.protocol.dataReceived(get())
            self.pool.finish()
        self.assertTrue(
            self.transport.value().startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        )
        self.assertTrue(self.transport.disconnecting)
        errors = [e for e in events if e["log_level"].name == "error"]
        self.assertEqual(len(errors), 1)
        self.assertNotIn("log_failure", errors[0])
        self.assertRegex(
            formatEvent(errors[0]),
            r"^request Request\(b'GET', b'/', b'1.1', keepAlive=False\) failed: "
            r"page not found: .*hello\.html$",
        )

    def test_failedAnswerQueuedThenLost(self) -> None:
        """
        A failed answer (500) waiting behind another, when the client
        leaves, is dropped with nothing more logged than the failure.
        """
        (self.directory / "404.html").unlink()
        with capturedLogs() as events:
            self.protocol.dataReceived(get() + get(b"/missing"))
            self.pool.finish(1)  # the 404's work fails first
            self.protocol.connectionLost(None)  # type: ignore[arg-type]
            self.pool.finish()
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(
            [e["log_level"].name for e in events if e["log_level"].name != "info"],
            ["error"],
        )


class ThreadTests(TestCase):
    """
    The work really runs off the reactor thread, and the reactor stays
    responsive while every worker is busy.
    """

    async def test_workRunsOffReactorThread(self) -> None:
        """
        The work sees a thread other than the reactor's.
        """
        seen: list[threading.Thread] = []
        original = responders.blockingWork

        def recording(*args: Any) -> Any:
            seen.append(threading.current_thread())
            return original(*args)

        self.patch(responders, "blockingWork", recording)
        port = portOf(startService(self, "--parallel", "--threads", "2"))
        answer, _ = await exchange(port, closing(b"/"))
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertEqual(len(seen), 1)
        self.assertIsNot(seen[0], threading.current_thread())

    async def test_reactorResponsiveWhileWorkersBusy(self) -> None:
        """
        With every worker asleep, timers still fire on time and bad input is
        still refused at once.
        """
        port = portOf(
            startService(self, "--parallel", "--threads", "2", "--sleep", "1")
        )
        started = reactor().seconds()
        sleepers = [exchange(port, closing(b"/sleep")) for _ in range(2)]
        await deferLater(reactor(), 0.2, lambda: None)
        self.assertLess(reactor().seconds() - started, 0.4)
        refused, done = await exchange(port, b"nonsense\r\n\r\n")
        self.assertTrue(refused.startswith(b"HTTP/1.1 400 Bad Request\r\n"))
        self.assertLess(done - started, 0.6)
        await gatherResults(sleepers)


class ParallelTCPTests(TestCase):
    """
    With T threads, N simultaneous slow requests take about ceil(N/T)
    delays.
    """

    async def test_eightSleepsOnFourThreads(self) -> None:
        """
        8 simultaneous C{/sleep} at 0.5 s on 4 threads finish in about 1 s:
        two rounds, not one (no threads) and not eight (one thread).
        """
        port = portOf(
            startService(self, "--parallel", "--threads", "4", "--sleep", "0.5")
        )
        started = reactor().seconds()
        results = await gatherResults(
            [exchange(port, closing(b"/sleep")) for _ in range(8)]
        )
        self.assertEqual([r[0][:17] for r in results], [b"HTTP/1.1 200 OK\r\n"] * 8)
        times = sorted(done - started for _, done in results)
        self.assertTrue(0.45 <= times[0] < 0.8, times)
        self.assertTrue(0.95 <= times[-1] < 1.5, times)
        self.assertEqual(sum(1 for t in times if t < 0.8), 4, times)
