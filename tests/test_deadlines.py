# -*- test-case-name: tests.test_timeouts -*-
"""
Every timeout, on a L{Clock}: slow heads, idle keep-alive, unread
responses, lingering after a refusal.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from hello_service.connection.deadlines import (
    Deadline,
    DeadlineQueue,
    DeadlineTimer,
    Timeouts,
)

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


class Owner:
    """
    Records the deadlines that passed.
    """

    def __init__(self) -> None:
        self.passed: list[tuple[float, Deadline]] = []
        self.clock: Clock | None = None

    def deadlinePassed(self, deadline: Deadline) -> None:
        assert self.clock is not None
        self.passed.append((self.clock.seconds(), deadline))


class QueueTests(SynchronousTestCase):
    """
    A factory's connections share one L{DeadlineQueue}: one delayed call for
    all of them, an entry per connection, stale entries swept out.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.queue = DeadlineQueue(self.clock)

    def timer(self) -> tuple[DeadlineTimer, Owner]:
        owner = Owner()
        owner.clock = self.clock
        return DeadlineTimer(self.queue, Timeouts(header=10, idle=15), owner), owner

    def test_oneCallForAll(self) -> None:
        """
        Many timers, one delayed call, set for the earliest; each deadline
        passes at its own time exactly.
        """
        timers = [self.timer() for _ in range(3)]
        timers[0][0].start(Deadline.IDLE)
        self.clock.advance(2)
        timers[1][0].start(Deadline.HEADER)
        timers[2][0].start(Deadline.IDLE)
        self.assertEqual([c.getTime() for c in self.clock.getDelayedCalls()], [12.0])
        self.clock.pump([0.5] * 40)
        self.assertEqual(
            [owner.passed for _, owner in timers],
            [
                [(15.0, Deadline.IDLE)],
                [(12.0, Deadline.HEADER)],
                [(17.0, Deadline.IDLE)],
            ],
        )
        self.assertEqual((len(self.queue), self.clock.getDelayedCalls()), (0, []))

    def test_keepAliveQueuesNothing(self) -> None:
        """
        A later idle deadline only moves the time checked against: no new
        entry; when the entry comes due, it is queued again for the rest.
        """
        timer, owner = self.timer()
        timer.start(Deadline.IDLE)
        for _ in range(10):
            self.clock.advance(1)
            timer.start(Deadline.IDLE)
        self.assertEqual(len(self.queue), 1)
        self.clock.advance(5)  # the first entry comes due at 15
        self.assertEqual((owner.passed, len(self.queue)), ([], 1))
        self.clock.advance(10)
        self.assertEqual(owner.passed, [(25.0, Deadline.IDLE)])

    def test_soonerMovesTheEntry(self) -> None:
        """
        A deadline sooner than the one queued queues a new entry; the old
        one, stale, passes nothing when it comes due.
        """
        timer, owner = self.timer()
        other, _ = self.timer()
        other.start(Deadline.IDLE)
        timer.start(Deadline.IDLE)
        timer.start(Deadline.HEADER)
        self.assertEqual(len(self.queue), 3)
        other.cancel()
        self.clock.advance(10)
        self.assertEqual(owner.passed, [(10.0, Deadline.HEADER)])
        self.clock.advance(10)
        self.assertEqual(
            (owner.passed, len(self.queue)), ([(10.0, Deadline.HEADER)], 0)
        )

    def test_nothingPendingOnceAllClose(self) -> None:
        """
        Once every connection has closed, no entry and no call are left.
        """
        timers = [self.timer()[0] for _ in range(100)]
        for timer in timers:
            timer.start(Deadline.IDLE)
        for timer in timers:
            timer.cancel()
        self.assertEqual((len(self.queue), self.clock.getDelayedCalls()), (0, []))

    def test_staleSwept(self) -> None:
        """
        Closed connections' entries are swept once they are more than 50
        and half the queue, so a busy server's queue stays near the number
        of connections open.
        """
        living = [self.timer()[0] for _ in range(60)]
        for timer in living:
            timer.start(Deadline.IDLE)
        for _ in range(1000):
            timer = self.timer()[0]
            timer.start(Deadline.IDLE)
            timer.cancel()
            self.assertLessEqual(len(self.queue), 60 + 61)
        self.clock.advance(15)
        self.assertEqual(len(self.queue), 0)

    def test_sameDueTime(self) -> None:
        """
        Entries due at the same time are both handled.
        """
        (one, first), (two, second) = self.timer(), self.timer()
        one.start(Deadline.IDLE)
        two.start(Deadline.IDLE)
        self.clock.advance(15)
        self.assertEqual((first.passed, second.passed), ([(15.0, Deadline.IDLE)],) * 2)

    def test_heldOnlyTheWriteDeadline(self) -> None:
        """
        While the client does not read, only the write deadline applies:
        stopping (an answer being written) does not clear it, and other
        deadlines are not set until the client reads again.
        """
        timer, owner = self.timer()
        timer.hold()
        timer.stop()
        timer.start(Deadline.IDLE)
        self.assertEqual(timer.kind, Deadline.WRITE)
        timer.release()
        timer.stop()
        self.assertEqual(timer.kind, Deadline.NONE)
        timer.start(Deadline.IDLE)
        self.clock.advance(15)
        self.assertEqual(owner.passed, [(15.0, Deadline.IDLE)])
