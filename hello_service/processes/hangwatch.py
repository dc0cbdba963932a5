# -*- test-case-name: tests.test_hangwatch,tests.test_supervisor -*-
"""
The hang watch of C{--workers}: a worker reports once a second (its
heartbeat, L{hello_service.processes.handoff.REPORT_INTERVAL}); one silent past its
bound has a stuck reactor.  It is asked for its stacks (C{STACKS_SIGNAL}),
which it writes from a signal handler and the supervisor logs as one block
when it ends, so that the log says where it was stuck; L{STACKS_GRACE}
later it is killed, and its end replaces it as a worker that died.
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Iterable
from typing import Protocol

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from hello_service.processes.handoff import STACKS_SIGNAL

#: How long a new worker may take to start serving.
START_TIMEOUT = 30.0

#: How long a hung worker, asked for its stacks, has to write them before
#: it is killed.  (It writes them from a signal handler, at once.)
STACKS_GRACE = 1.0


class Watched(Protocol):
    """
    What the hang watch reads and does of a worker.
    """

    slot: int
    pid: int | None
    started: bool
    retiring: bool
    hung: bool
    lastHeard: float
    heldErrors: deque[str]

    def signal(self, name: str | int) -> None: ...


class HangWatch:
    """
    Finds the hung workers, and has each say where it hung, then kills it.
    """

    def __init__(self, clock: IReactorTime, workerTimeout: float, log: Logger) -> None:
        """
        @param workerTimeout: how long a serving worker may stay silent
            (C{--worker-timeout}); one not serving yet has L{START_TIMEOUT}.
        @param log: where to say a worker hung: the supervisor's log, whose
            namespace operators' alerts match.
        """
        self._clock = clock
        self.workerTimeout = workerTimeout
        self.log = log

    def check(self, workers: Iterable[Watched]) -> None:
        """
        Kill every worker of C{workers} silent past its bound, once.
        """
        now = self._clock.seconds()
        for worker in workers:
            silent = now - worker.lastHeard
            limit = self.workerTimeout if worker.started else START_TIMEOUT
            if worker.retiring or worker.hung or silent <= limit:
                continue
            worker.hung = True
            self.log.warn(
                "worker {slot} (pid {pid}) hung: nothing heard from it for "
                "{silent} s; killing it",
                slot=worker.slot,
                pid=worker.pid,
                silent=f"{silent:.1f}",
            )
            worker.heldErrors.clear()
            worker.signal(STACKS_SIGNAL)
            # A stopped process (SIGSTOP) takes the request once continued.
            worker.signal(signal.SIGCONT)
            self._clock.callLater(STACKS_GRACE, worker.signal, "KILL")
