"""
Tests for L{hello_service.processes.hangwatch}: the hang watch alone, on a clock,
with workers that only remember what they were sent.
"""

from __future__ import annotations

import signal
from collections import deque

from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from hello_service.processes.handoff import STACKS_SIGNAL
from hello_service.processes.hangwatch import STACKS_GRACE, START_TIMEOUT, HangWatch


class Worker:
    def __init__(self, started: bool = True, lastHeard: float = 0.0) -> None:
        self.slot, self.pid = 1, 4242
        self.started, self.retiring, self.hung = started, False, False
        self.lastHeard = lastHeard
        self.heldErrors: deque[str] = deque(["an old line"])
        self.signals: list[str | int] = []

    def signal(self, name: str | int) -> None:
        self.signals.append(name)


class HangWatchTests(SynchronousTestCase):
    def test_silentPastTheTimeout(self) -> None:
        """
        A serving worker silent past C{--worker-timeout} is asked for its
        stacks (and continued, were it stopped), then killed a grace later,
        once; one heard from within the timeout is left alone.
        """
        clock = Clock()
        watch = HangWatch(clock, 10.0, Logger())
        quiet, talking = Worker(), Worker(lastHeard=5.0)
        clock.advance(10.5)
        watch.check([quiet, talking])
        self.assertEqual(quiet.signals, [STACKS_SIGNAL, signal.SIGCONT])
        self.assertTrue(quiet.hung)
        self.assertEqual(list(quiet.heldErrors), [])  # the stacks, not old lines
        self.assertEqual(talking.signals, [])
        watch.check([quiet, talking])  # found once
        clock.advance(STACKS_GRACE)
        self.assertEqual(quiet.signals, [STACKS_SIGNAL, signal.SIGCONT, "KILL"])

    def test_startingWorkerHasTheStartTimeout(self) -> None:
        clock = Clock()
        watch = HangWatch(clock, 1.0, Logger())
        starting = Worker(started=False)
        clock.advance(START_TIMEOUT - 1)
        watch.check([starting])
        self.assertEqual(starting.signals, [])
        clock.advance(1.5)
        watch.check([starting])
        self.assertTrue(starting.hung)
