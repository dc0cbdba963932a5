# -*- test-case-name: tests.test_signals -*-
"""
The signals operators send, meaning the same in every mode, as nginx and
gunicorn taught them: SIGHUP reloads, SIGUSR1 reopens the log files
(SIGTERM and SIGINT, which drain, are twistd's and the worker's own).

L{OperatorSignals} runs each action on the reactor thread, says in the log
that it did, and keeps whatever handler was there before working: twistd,
when it logs to a file, rotates that file on SIGUSR1, and still does.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from hello_service.operations.lognames import NamedLogger

#: A signal's handler, as C{signal.signal} takes and returns it.
Handler = Callable[[int, Any], Any] | int | None


class OperatorSignals:
    """
    Handlers for the operator's signals, each running an action on the
    reactor thread after any handler already installed.
    """

    log = NamedLogger("hello_service.signals.OperatorSignals")

    def __init__(
        self,
        reactor: Any,
        actions: dict[signal.Signals, tuple[str, Callable[[], None]]],
    ) -> None:
        """
        @param actions: by signal, what it does (for the log line) and the
            action itself.
        """
        self._reactor = reactor
        self._actions = actions
        self._previous: dict[signal.Signals, Handler] = {}

    def install(self) -> None:
        for number in self._actions:
            self._previous[number] = signal.signal(number, self._received)

    def uninstall(self) -> None:
        """
        Put back the handlers that were there before.
        """
        previous, self._previous = self._previous, {}
        for number, handler in previous.items():
            signal.signal(number, handler)

    def _received(self, number: int, frame: Any) -> None:
        """
        In the signal handler: run the handler that was there before (as
        twistd's log rotation), then this one's action, on the reactor
        thread.
        """
        name = signal.Signals(number)
        previous = self._previous.get(name)
        if callable(previous):
            previous(number, frame)
        self._reactor.callFromThread(self.received, name)

    def received(self, number: signal.Signals) -> None:
        """
        Act on signal C{number}, saying so in the log.
        """
        what, action = self._actions[number]
        self.log.info("{signal}: {what}", signal=number.name, what=what)
        action()
