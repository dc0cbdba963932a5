"""
Tests for L{hello_service.operations.operations}: the operator's side of a service
starts and stops in one order, the same for both modes.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from hello_service.operations.notify import ServiceManager
from hello_service.operations.operations import Operations


class Journal(ServiceManager):
    """
    A service manager that writes down what it is told.
    """

    def __init__(self, clock: Clock, journal: list[str]) -> None:
        super().__init__(None, clock)
        self.journal = journal

    def start(self, describe: Callable[[], str]) -> None:
        self.journal.append("manager started")

    def ready(self) -> None:
        self.journal.append("manager ready")

    def stopping(self, status: str = "") -> None:
        self.journal.append("manager stopping")

    def stop(self) -> None:
        self.journal.append("manager stopped")


class OrderTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.journal: list[str] = []
        self.operations = Operations(
            self.clock,
            Journal(self.clock, self.journal),
            {signal.SIGUSR1: ("noted", lambda: self.journal.append("SIGUSR1"))},
            drainDelay=3.0,
        )
        self.before = signal.getsignal(signal.SIGUSR1)
        self.addCleanup(self.operations.signals.uninstall)

    def test_start(self) -> None:
        """
        Started, the signals are taken and the lag probed; ready only once
        told that everything serves.
        """
        self.operations.start(lambda: "status")
        self.assertNotEqual(signal.getsignal(signal.SIGUSR1), self.before)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)  # the lag probe
        self.assertFalse(self.operations.readiness.ready)
        self.operations.serving()
        self.assertTrue(self.operations.readiness.ready)
        self.assertEqual(self.journal, ["manager started", "manager ready"])

    def test_stop(self) -> None:
        """
        A stop tells the manager, gives the signals back, stops probing,
        runs the mode's own step, and answers 503 for the drain delay
        before the listeners may close; the close comes last.
        """
        self.operations.start(lambda: "status")
        self.operations.serving()
        stopping = Deferred.fromCoroutine(
            self.operations.stopBeingReady(then=lambda: self.journal.append("then"))
        )
        self.assertEqual(self.journal[2:], ["manager stopping", "then"])
        self.assertEqual(signal.getsignal(signal.SIGUSR1), self.before)
        self.assertFalse(self.operations.readiness.ready)
        self.assertNoResult(stopping)
        self.clock.advance(3.0)
        self.successResultOf(stopping)
        self.assertEqual(self.clock.getDelayedCalls(), [])  # no probe left
        self.successResultOf(Deferred.fromCoroutine(self.operations.close()))
        self.assertEqual(self.journal[-1], "manager stopped")

    def test_stopAfterGivingUp(self) -> None:
        """
        A service that gave up told the manager why already: its stop does
        not say it again.
        """
        self.operations.start(lambda: "status")
        stopping = Deferred.fromCoroutine(self.operations.stopBeingReady(tell=False))
        self.clock.advance(3.0)
        self.successResultOf(stopping)
        self.assertNotIn("manager stopping", self.journal)
