# -*- test-case-name: tests.test_limits -*-
"""
The connection limit, C{for_each_concurrent(limit)}: at the limit, stop
accepting; as connections close, accept again.
"""

from __future__ import annotations

import resource

from twisted.trial.unittest import SynchronousTestCase

from hello_service.connection.limits import (
    ConnectionLimiter,
    currentDescriptorLimit,
    descriptorLimiter,
    raiseDescriptorLimit,
)

from .support.builders import connect, get, makeFactory, response


class FakePort:
    def __init__(self) -> None:
        self.paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False


class FakeConnection:
    def __init__(self) -> None:
        self.admitted = False

    def admit(self) -> None:
        self.admitted = True


class ConnectionLimiterTests(SynchronousTestCase):
    """
    L{ConnectionLimiter} pauses the ports at the limit and resumes them
    below it, holding any connection accepted past it.
    """

    def test_pauseAtLimitResumeBelow(self) -> None:
        """
        The ports pause when the limit is reached, and resume when one of
        the connections closes.
        """
        port = FakePort()
        limiter = ConnectionLimiter(2)
        limiter.addPort(port)
        first, second = FakeConnection(), FakeConnection()
        self.assertTrue(limiter.acquire(first))
        self.assertFalse(port.paused)
        self.assertTrue(limiter.acquire(second))
        self.assertTrue(port.paused)
        limiter.release(first)
        self.assertFalse(port.paused)
        self.assertEqual(limiter.served, 1)

    def test_timesFullCounted(self) -> None:
        """
        Each time the limit is reached and accepting pauses counts once,
        however many connections it holds meanwhile.
        """
        limiter = ConnectionLimiter(1)
        limiter.addPort(FakePort())
        first = FakeConnection()
        limiter.acquire(first)
        limiter.acquire(FakeConnection())
        self.assertEqual(limiter.timesFull, 1)
        limiter.release(first)
        self.assertEqual(limiter.timesFull, 1)
        limiter.acquire(FakeConnection())
        self.assertEqual(limiter.timesFull, 1)  # the held one went in first

    def test_overshootIsHeldInOrder(self) -> None:
        """
        Connections accepted past the limit in the same batch wait, and are
        admitted in arrival order before the ports resume.
        """
        port = FakePort()
        limiter = ConnectionLimiter(1)
        limiter.addPort(port)
        served, waiting1, waiting2 = (
            FakeConnection(),
            FakeConnection(),
            FakeConnection(),
        )
        limiter.acquire(served)
        self.assertFalse(limiter.acquire(waiting1))
        self.assertFalse(limiter.acquire(waiting2))
        limiter.release(served)
        self.assertEqual((waiting1.admitted, waiting2.admitted), (True, False))
        self.assertTrue(port.paused)
        limiter.release(waiting2)  # gave up while waiting
        limiter.release(waiting1)
        self.assertFalse(port.paused)
        self.assertEqual(limiter.served, 0)

    def test_waitersAdmittedUpToTheLimit(self) -> None:
        """
        As places free up, waiters are admitted until the limit is reached
        again, never beyond it.
        """
        limiter = ConnectionLimiter(2)
        first, second = FakeConnection(), FakeConnection()
        waiters = [FakeConnection() for _ in range(3)]
        for connection in [first, second, *waiters]:
            limiter.acquire(connection)
        limiter.release(first)
        self.assertEqual([w.admitted for w in waiters], [True, False, False])
        self.assertEqual((limiter.served, limiter.waiting), (2, 2))
        limiter.release(second)
        limiter.release(waiters[0])
        self.assertEqual([w.admitted for w in waiters], [True, True, True])
        self.assertEqual((limiter.served, limiter.waiting), (2, 0))

    def test_acceptBatchCutToFreePlaces(self) -> None:
        """
        A Twisted port accepts up to C{numberAccepts} connections per
        wake-up; whenever accepting starts, that batch is cut to the free
        places, so few connections are accepted past the limit.
        """
        port = FakePort()
        port.numberAccepts = 100  # type: ignore[attr-defined]
        limiter = ConnectionLimiter(3)
        limiter.addPort(port)
        self.assertEqual(port.numberAccepts, 3)  # type: ignore[attr-defined]
        connections = [FakeConnection() for _ in range(3)]
        for connection in connections:
            limiter.acquire(connection)
        port.numberAccepts = 23  # type: ignore[attr-defined]  # as Twisted grows it
        limiter.release(connections[0])
        self.assertFalse(port.paused)
        self.assertEqual(port.numberAccepts, 1)  # type: ignore[attr-defined]

    def test_portAddedWhilePaused(self) -> None:
        """
        A port added while at the limit starts paused.
        """
        limiter = ConnectionLimiter(1)
        limiter.acquire(FakeConnection())
        port = FakePort()
        limiter.addPort(port)
        self.assertTrue(port.paused)

    def test_heldConnectionReadsNothing(self) -> None:
        """
        A held protocol does not read its requests until admitted.
        """
        factory = makeFactory(connectionLimiter=ConnectionLimiter(1))
        connect(factory)
        second, secondTransport = connect(factory)
        self.assertEqual(secondTransport.producerState, "paused")
        first = next(p for p in factory.connections if p is not second)
        first.connectionLost(None)
        self.assertEqual(secondTransport.producerState, "producing")
        second.dataReceived(get())
        self.assertEqual(secondTransport.value(), response())


class DescriptorCeilingTests(SynchronousTestCase):
    """
    Client connections never exhaust the process's descriptors.
    """

    def test_ceiling(self) -> None:
        """
        The limiter is the smaller of C{--max-connections} and the open-file
        limit less 100 spare descriptors, and says which one it is.
        """
        for maxConnections, openFiles, expected in [
            (0, None, None),
            (5, None, (5, "--max-connections")),
            (0, 1000, (900, "file descriptor limit")),
            (5, 1000, (5, "--max-connections")),
            (2000, 1000, (900, "file descriptor limit")),
            (0, 100, (1, "file descriptor limit")),
        ]:
            limiter = descriptorLimiter(maxConnections, openFiles)
            found = None if limiter is None else (limiter.maximum, limiter.reason)
            self.assertEqual(found, expected, (maxConnections, openFiles))

    def test_raisedToHardLimit(self) -> None:
        """
        L{raiseDescriptorLimit} raises the soft limit on open files to the
        hard limit, and says what it is now.
        """
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        lowered = 64 if hard == resource.RLIM_INFINITY else min(64, hard - 1)
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
        self.assertEqual(currentDescriptorLimit(), lowered)
        raised = raiseDescriptorLimit()
        self.assertEqual(resource.getrlimit(resource.RLIMIT_NOFILE), (hard, hard))
        self.assertEqual(raised, None if hard == resource.RLIM_INFINITY else hard)
        self.assertEqual(raiseDescriptorLimit(), raised)  # already there


class UnlimitedFilesTests(SynchronousTestCase):
    def test_noCeilingWithoutALimit(self) -> None:
        """
        Where open files are unlimited, there is no descriptor ceiling.
        """
        infinite = resource.RLIM_INFINITY
        self.patch(resource, "getrlimit", lambda which: (infinite, infinite))
        self.assertIsNone(raiseDescriptorLimit())
        self.assertIsNone(currentDescriptorLimit())
