# -*- test-case-name: tests.test_limits -*-
"""
The connection limit, C{for_each_concurrent(limit)}: at the limit, stop
accepting; as connections close, accept again.
"""

from __future__ import annotations

from twisted.internet.defer import gatherResults
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import TestCase

from ..support.tcp import closing, exchange, portOf, reactor, startService


class LimitTCPTests(TestCase):
    """
    Over real TCP, clients past the limit wait in the backlog, and are
    served, not refused.
    """

    async def test_threeSleepsTwoAtATime(self) -> None:
        """
        With --max-connections 2, three simultaneous C{/sleep} (1 s): two
        finish at about 1 s, the third at about 2 s, all 200.
        """
        port = portOf(startService(self, "--max-connections", "2", "--sleep", "1"))
        started = reactor().seconds()
        results = await gatherResults(
            [exchange(port, closing(b"/sleep")) for _ in range(3)]
        )
        self.assertEqual([r[0][:17] for r in results], [b"HTTP/1.1 200 OK\r\n"] * 3)
        times = sorted(done - started for _, done in results)
        self.assertTrue(0.95 <= times[0] <= times[1] < 1.5, times)
        self.assertTrue(1.95 <= times[2] < 2.6, times)

    async def test_limitInParallelMode(self) -> None:
        """
        The limit holds in parallel mode too, with threads to spare.
        """
        port = portOf(
            startService(
                self, "--parallel", "--threads", "8", "--max-connections", "1",
                "--sleep", "0.5",
            )
        )  # fmt: skip
        started = reactor().seconds()
        results = await gatherResults(
            [exchange(port, closing(b"/sleep")) for _ in range(2)]
        )
        times = sorted(done - started for _, done in results)
        self.assertTrue(0.45 <= times[0] < 0.8, times)
        self.assertTrue(0.95 <= times[1] < 1.4, times)


class StartupLineTests(TestCase):
    def test_namesTheLimit(self) -> None:
        """
        The start-up line says the limit and where it comes from.
        """
        with capturedLogs() as events:
            startService(self, "--max-connections", "2")
        lines = [formatEvent(e) for e in events]
        self.assertTrue(
            any(
                "at most 2 connections, by --max-connections" in line for line in lines
            ),
            lines,
        )
