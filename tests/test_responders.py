# -*- test-case-name: tests.test_parallel -*-
"""
The parallel path: each request's work in a thread pool through
C{deferToThreadPool}, the answer written on the reactor thread.
"""

from __future__ import annotations

import re
from pathlib import Path

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from hello_service.answers.responders import ParallelResponder
from hello_service.http.pages import loadPages

from .support.builders import connect, get, makeFactory
from .support.doubles import ImmediateReactor, QueueingThreadPool


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
