# -*- test-case-name: tests.test_timeouts -*-
"""
Every timeout, on a L{Clock}: slow heads, idle keep-alive, unread
responses, lingering after a refusal.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from hello_service.deadlines import Timeouts

from .support.builders import connect, errorResponse, get, makeFactory


class TimeoutTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.factory = makeFactory(
            self.clock,
            delay=30,
            timeouts=Timeouts(header=10, idle=15, write=5, linger=2),
        )
        self.protocol, self.transport = connect(self.factory)

    def test_idleConnectionClosed(self) -> None:
        """
        A connection that sends nothing is closed after the idle timeout,
        without a word.
        """
        self.clock.advance(14.9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.transport.value(), b"")

    def test_idleAfterResponse(self) -> None:
        """
        The idle timeout starts again after each answer.
        """
        self.clock.advance(10)
        self.protocol.dataReceived(get())
        self.clock.advance(14.9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(self.transport.disconnecting)

    def test_tricklingHeadCut(self) -> None:
        """
        A head trickled a byte a second is cut at the header timeout counted
        from its first byte: the bytes do not reset the clock.
        """
        data = get(extra=b"X-Slow: " + b"a" * 100 + b"\r\n")
        for i in range(10):
            self.protocol.dataReceived(data[i : i + 1])
            self.clock.advance(1)
        self.assertEqual(
            self.transport.value(),
            errorResponse(b"408 Request Timeout").replace(b"00:00:00", b"00:00:10"),
        )
        self.assertTrue(self.transport.disconnecting)

    def test_headTimerFromFirstByteOfNextRequest(self) -> None:
        """
        On a keep-alive connection, the header timeout of the next request
        counts from that request's first byte, not from the connection's.
        """
        self.protocol.dataReceived(get())
        self.clock.advance(12)
        self.protocol.dataReceived(b"GET / HT")
        self.clock.advance(9.9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(self.transport.disconnecting)

    def test_completedRequestsRestartTheClock(self) -> None:
        """
        A client streaming pipelined requests is never cut while each one
        completes in time.
        """
        data = get() * 40
        for i in range(0, len(data), 20):
            self.protocol.dataReceived(data[i : i + 20])
            self.clock.advance(1)
        # About a minute of streaming, far past the header timeout.
        self.assertGreater(self.clock.seconds(), 60)
        self.assertEqual(self.transport.value().count(b"HTTP/1.1 200 OK\r\n"), 40)
        self.assertFalse(self.transport.disconnecting)

    def test_noTimerWhileAnswering(self) -> None:
        """
        A C{/sleep} longer than both the idle and the header timeouts is
        still answered.
        """
        self.protocol.dataReceived(get(b"/sleep"))
        self.clock.advance(29.9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertFalse(self.transport.disconnecting)

    def test_writeTimeout(self) -> None:
        """
        A client that stops reading (the transport pauses us) is dropped
        after the write timeout.
        """
        self.protocol.dataReceived(get())
        self.protocol.pauseProducing()
        self.assertEqual(self.transport.producerState, "paused")
        self.clock.advance(4.9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(self.transport.disconnected)

    def test_readingAgainCancelsWriteTimeout(self) -> None:
        """
        A client that reads again in time is kept, and read from again.
        """
        self.protocol.pauseProducing()
        self.clock.advance(4)
        self.protocol.resumeProducing()
        self.assertEqual(self.transport.producerState, "producing")
        self.clock.advance(4)
        self.assertFalse(self.transport.disconnecting)

    def test_noTimersAfterClose(self) -> None:
        """
        A closed connection leaves no timer behind.
        """
        self.protocol.dataReceived(get(b"/sleep") + b"GET / HT")
        self.protocol.connectionLost(None)
        self.assertEqual(self.clock.getDelayedCalls(), [])
