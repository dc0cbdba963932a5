# -*- test-case-name: tests.test_vitals -*-
"""
How a process is doing, as an operator pages on it: how late its reactor
runs (L{ReactorLag}), and its resident memory, CPU time and open
descriptors (L{processFigures}).

A single-threaded server saturates by falling behind: every event waits for
the ones before it, and an answer computed in no measurable time still
reaches a client late.  The request duration metrics cannot see that wait
(it happens before the request is read); a timer that should fire every
tenth of a second can: how late it fires is how long any event waited.
Each process reports both with its figures (with C{--workers}, every
worker to the main process, every second).
"""

from __future__ import annotations

import os
import resource
from collections import deque

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from hello_service.http.counting import ProcessFigures

#: How often the lag timer is due, in seconds.
LAG_INTERVAL = 0.1
#: The lag reported: the worst of this many last ticks (a second's worth).
LAG_WINDOW = 10

#: The bytes of a memory page, for the resident set size in pages.
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ReactorLag:
    """
    A timer due every L{LAG_INTERVAL} seconds, measuring how late each tick
    fires.  L{seconds} is the worst lateness of the last second: a blocked
    reactor shows it the moment it runs again.
    """

    def __init__(
        self,
        clock: IReactorTime,
        interval: float = LAG_INTERVAL,
        window: int = LAG_WINDOW,
    ) -> None:
        self._clock = clock
        self._interval = interval
        self._recent: deque[float] = deque(maxlen=window)
        self._due = 0.0
        self._call: IDelayedCall | None = None

    @property
    def seconds(self) -> float:
        """
        The worst lateness of the last ticks, in seconds.
        """
        return max(self._recent, default=0.0)

    def start(self) -> None:
        if self._call is None:
            self._schedule(self._clock.seconds())

    def stop(self) -> None:
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None

    def _schedule(self, now: float) -> None:
        self._due = now + self._interval
        self._call = self._clock.callLater(self._interval, self._tick)

    def _tick(self) -> None:
        now = self._clock.seconds()
        self._recent.append(max(0.0, now - self._due))
        self._schedule(now)


def processFigures() -> ProcessFigures:
    """
    This process's resident memory (bytes), CPU time (user and system
    seconds) and open descriptors, where the system tells them (Linux's
    C{/proc}; elsewhere memory and descriptors are C{None}).
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    try:
        with open("/proc/self/statm", "rb") as statm:
            resident: int | None = int(statm.read().split()[1]) * _PAGE
        descriptors: int | None = len(os.listdir("/proc/self/fd"))
    except OSError:
        resident = descriptors = None
    return {
        "residentBytes": resident,
        "cpuSeconds": usage.ru_utime + usage.ru_stime,
        "openDescriptors": descriptors,
    }
