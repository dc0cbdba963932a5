"""
Tests for L{hello_service.operations.vitals}: how late the reactor runs, on a
L{Clock}; and this process's own figures.
"""

from __future__ import annotations

import os
import resource

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from hello_service.operations.vitals import ReactorLag, processFigures


class ReactorLagTests(SynchronousTestCase):
    def test_onTime(self) -> None:
        """
        A reactor that keeps up: no lag, one timer pending at a time.
        """
        clock = Clock()
        lag = ReactorLag(clock)
        lag.start()
        lag.start()  # a second start changes nothing
        for _ in range(25):
            clock.advance(0.1)
        self.assertEqual(lag.seconds, 0.0)
        self.assertEqual(len(clock.getDelayedCalls()), 1)

    def test_blocked(self) -> None:
        """
        A reactor blocked for 0.75 s shows 0.75 s of lag at its next tick,
        for a second's worth of ticks (10), then none.
        """
        clock = Clock()
        lag = ReactorLag(clock)
        lag.start()
        clock.advance(0.1)
        clock.advance(0.85)  # the tick due at 0.2 fires at 0.95
        self.assertAlmostEqual(lag.seconds, 0.75)
        for _ in range(9):
            clock.advance(0.1)
        self.assertAlmostEqual(lag.seconds, 0.75)
        clock.advance(0.1)
        self.assertEqual(lag.seconds, 0.0)

    def test_stop(self) -> None:
        clock = Clock()
        lag = ReactorLag(clock)
        lag.start()
        lag.stop()
        lag.stop()
        self.assertEqual(clock.getDelayedCalls(), [])
        lag.start()
        self.assertEqual(len(clock.getDelayedCalls()), 1)


class ProcessFiguresTests(SynchronousTestCase):
    def test_thisProcess(self) -> None:
        """
        The figures are this process's: its resident memory as C{/proc}
        says, its CPU time as C{getrusage} says, one more descriptor once
        one more is open.
        """
        before = processFigures()
        reading, writing = os.pipe()
        self.addCleanup(os.close, reading)
        self.addCleanup(os.close, writing)
        after = processFigures()
        self.assertEqual(after["openDescriptors"], before["openDescriptors"] + 2)
        with open("/proc/self/status") as status:
            rss = next(
                int(line.split()[1]) for line in status if line.startswith("VmRSS")
            )
        self.assertLess(abs(after["residentBytes"] / 1024 - rss), rss * 0.1)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.assertLess(abs(after["cpuSeconds"] - usage.ru_utime - usage.ru_stime), 0.5)
        self.assertGreater(after["cpuSeconds"], 0)
