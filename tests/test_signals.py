"""
Tests for L{hello_service.operations.signals}: the operator's signals run their action
on the reactor thread, say so, and keep the handler that was there first.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from twisted.internet.testing import MemoryReactor
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from hello_service.operations.signals import OperatorSignals


class ThreadReactor(MemoryReactor):
    """
    Records what is handed over from a signal handler.
    """

    def __init__(self) -> None:
        super().__init__()
        self.handedOver: list[tuple[Any, tuple[Any, ...]]] = []

    def callFromThread(self, f: Any, *args: Any, **kwargs: Any) -> None:
        self.handedOver.append((f, args))


class OperatorSignalsTests(SynchronousTestCase):
    def test_actionOnTheReactorThreadAfterThePreviousHandler(self) -> None:
        """
        The signal first runs the handler that was installed before (as
        twistd's log rotation), then hands the action to the reactor
        thread, which runs it and says so; uninstalling puts the previous
        handler back.
        """
        calls: list[str] = []

        def previous(number: int, frame: object) -> None:
            calls.append(f"previous {number} {frame is not None}")

        original = signal.signal(signal.SIGUSR1, previous)
        self.addCleanup(signal.signal, signal.SIGUSR1, original)
        reactor = ThreadReactor()
        signals = OperatorSignals(
            reactor, {signal.SIGUSR1: ("reopening", lambda: calls.append("action"))}
        )
        signals.install()
        os.kill(os.getpid(), signal.SIGUSR1)
        self.assertEqual(calls, [f"previous {int(signal.SIGUSR1)} True"])
        [(handed, arguments)] = reactor.handedOver
        with capturedLogs() as events:
            handed(*arguments)
        self.assertEqual(calls[-1], "action")
        self.assertEqual([formatEvent(e) for e in events], ["SIGUSR1: reopening"])
        signals.uninstall()
        self.assertIs(signal.getsignal(signal.SIGUSR1), previous)
        signals.uninstall()
        self.assertIs(signal.getsignal(signal.SIGUSR1), previous)

    def test_defaultHandlerNotCalled(self) -> None:
        """
        Where the previous handler is the default (which would end the
        process), only the action runs.
        """
        original = signal.signal(signal.SIGHUP, signal.SIG_DFL)
        self.addCleanup(signal.signal, signal.SIGHUP, original)
        reactor = ThreadReactor()
        signals = OperatorSignals(reactor, {signal.SIGHUP: ("reloading", lambda: None)})
        signals.install()
        self.addCleanup(signals.uninstall)
        os.kill(os.getpid(), signal.SIGHUP)
        self.assertEqual(len(reactor.handedOver), 1)
