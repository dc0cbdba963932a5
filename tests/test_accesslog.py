# -*- test-case-name: tests.test_accesslog -*-
"""
The access log: its lines, and how they are batched.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from hello_service.accesslog import AccessLog, clfTimestamp, formatEntry
from hello_service.requests import UNPARSED, Request


class FormatTests(SynchronousTestCase):
    def test_timestamp(self) -> None:
        """
        Times are in the Common Log Format, in UTC.
        """
        self.assertEqual(clfTimestamp(784111777), "06/Nov/1994:08:49:37 +0000")

    def test_combinedLine(self) -> None:
        """
        A line has client, time, request line, status, size, referer and
        agent; an empty body is written C{-}.
        """
        request = Request(b"HEAD", b"/a?b=1", b"1.0", False, b"http://r/", b"agent/1")
        self.assertEqual(
            formatEntry("T", "10.0.0.1", request, b"200", 0),
            '10.0.0.1 - - [T] "HEAD /a?b=1 HTTP/1.0" 200 - "http://r/" "agent/1"',
        )
        self.assertEqual(
            formatEntry("T", "-", UNPARSED, b"400", 16), '- - - [T] "-" 400 16 "-" "-"'
        )

    def test_noLogInjection(self) -> None:
        """
        Quotes, backslashes, control and non-ASCII bytes from a client are
        escaped: a line stays one line and its fields stay its fields.
        """
        request = Request(b"GET", b"/", b"1.1", True, b'a"b\\c', b"x\r\ny\x00\xff")
        line = formatEntry("T", "c", request, b"200", 1)
        self.assertEqual(
            line,
            '''c - - [T] "GET / HTTP/1.1" 200 1 "a\\x22b\\x5cc" "x\\x0d\\x0ay\\x00\\xff"''',
        )
        self.assertNotIn("\n", line)


class BatchingTests(SynchronousTestCase):
    def test_oneEventPerInterval(self) -> None:
        """
        Requests recorded within the interval share one event, with a line
        each, emitted when the interval ends; the next request starts a new
        batch.
        """
        clock = Clock()
        log = AccessLog(clock)
        request = Request(b"GET", b"/", b"1.1", True)
        with capturedLogs() as events:
            for _ in range(3):
                log.record("c", request, b"200", 5)
            clock.advance(log.interval / 2)
            self.assertEqual(events, [])
            clock.advance(log.interval / 2)
            log.record("c", request, b"404", 6)
            clock.advance(log.interval)
        self.assertEqual([e["count"] for e in events], [3, 1])
        self.assertEqual(len(formatEvent(events[0]).split("\n")), 3)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_flushNow(self) -> None:
        """
        C{flush} emits at once and leaves no timer (the service flushes when
        it stops).
        """
        clock = Clock()
        log = AccessLog(clock)
        with capturedLogs() as events:
            log.record("c", Request(b"GET", b"/", b"1.1", True), b"200", 5)
            log.flush()
            log.flush()
        self.assertEqual(len(events), 1)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_batchesAreBounded(self) -> None:
        """
        Under load a batch is emitted as soon as it holds 128 lines, so no
        single event stalls the requests behind it for long.
        """
        clock = Clock()
        log = AccessLog(clock)
        request = Request(b"GET", b"/", b"1.1", True)
        with capturedLogs() as events:
            for _ in range(300):
                log.record("c", request, b"200", 5)
            self.assertEqual([e["count"] for e in events], [128, 128])
            clock.advance(log.interval)
        self.assertEqual([e["count"] for e in events], [128, 128, 44])
        self.assertEqual(clock.getDelayedCalls(), [])
