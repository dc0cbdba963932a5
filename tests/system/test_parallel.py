# -*- test-case-name: tests.test_parallel -*-
"""
The parallel path: each request's work in a thread pool through
C{deferToThreadPool}, the answer written on the reactor thread.
"""

from __future__ import annotations

import threading
from typing import Any

from twisted.internet.defer import gatherResults
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from hello_service.answers import responders

from ..support.tcp import closing, exchange, portOf, reactor, startService


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
