# -*- test-case-name: tests.test_crashes,tests.test_supervisor -*-
"""
The crash policy of C{--workers}: what the supervisor does when a worker
that served dies.  The first death in a while is replaced at once; each
further one within L{CRASH_WINDOW} waits twice as long as the one before
(0.5 s, 1 s, 2 s), so that a worker that dies on every request does not
spin; L{CRASH_LIMIT} deaths within the window are a crash loop, and the
supervisor gives up.  (A worker that never served is not this policy's:
the start fails at once, with the worker's own reason.)
"""

from __future__ import annotations

import signal
from collections import deque
from typing import Protocol

from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from hello_service.processes.handoff import BOOT_ERROR
from hello_service.processes.hangwatch import START_TIMEOUT

#: A worker that dies this many times within L{CRASH_WINDOW} seconds is a
#: crash loop: the main process gives up.
CRASH_LIMIT = 5
CRASH_WINDOW = 60.0


class CrashPolicy:
    """
    The deaths of the last L{CRASH_WINDOW} seconds, and what each calls
    for.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._deaths: deque[float] = deque()

    @property
    def recent(self) -> int:
        """
        How many workers died within the window.
        """
        return len(self._deaths)

    def died(self) -> float | None:
        """
        A worker that served died: how long to wait before its replacement,
        or C{None} for a crash loop (give up).
        """
        now = self._clock.seconds()
        self._deaths.append(now)
        while self._deaths and now - self._deaths[0] > CRASH_WINDOW:
            self._deaths.popleft()
        if len(self._deaths) >= CRASH_LIMIT:
            return None
        return 0.0 if len(self._deaths) == 1 else 0.5 * 2 ** (len(self._deaths) - 2)

    def givingUp(self) -> str:
        """
        Why the supervisor gives up, in one line.
        """
        return (
            f"workers died {self.recent} times within {CRASH_WINDOW:.0f} s; giving up"
        )


def describeExit(reason: Failure) -> str:
    """
    How a process ended, as an operator reads it.
    """
    status = getattr(reason.value, "status", None)
    signalNumber = getattr(reason.value, "signal", None)
    if signalNumber is not None:
        return f"killed by signal {signalNumber} ({signal.Signals(signalNumber).name})"
    exitCode = getattr(reason.value, "exitCode", None)
    if exitCode is not None:
        return f"exited with status {exitCode}"
    return f"ended ({status})"


class NeverServed(Protocol):
    """
    What the words for a failed start read of a worker.
    """

    hung: bool

    @property
    def lastError(self) -> str: ...


def whyItNeverServed(worker: NeverServed, reason: Failure) -> str:
    """
    Why a worker ended before it served, in the words an operator needs:
    its own last line, else what killed it, else how it ended.  (No
    backoff for it: the start fails.)
    """
    if worker.hung:
        return f"nothing heard from it for {START_TIMEOUT:.0f} s"
    if worker.lastError:
        return worker.lastError
    how = describeExit(reason)
    if getattr(reason.value, "exitCode", None) == BOOT_ERROR:
        return how
    return f"{how} before it served"
