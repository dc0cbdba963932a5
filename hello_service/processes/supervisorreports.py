# -*- test-case-name: tests.test_supervisor,tests.test_statuspage -*-
"""
What the supervisor of C{--workers} says of the service it runs: the
figures of all its workers (C{/metrics}), the status page, the service
manager's one line, and the line that says it serves.

They read the supervisor through L{Supervised}, so that the supervisor
keeps its slots, its phase and its workers' lives, and the words for them
live here.
"""

from __future__ import annotations

import os
from enum import Enum
from typing import Any, Protocol

from hello_service import __version__
from hello_service.configuration.config import Config
from hello_service.configuration.listening import Listener
from hello_service.http.counting import Figures
from hello_service.operations.notify import statusLine
from hello_service.operations.operations import Operations
from hello_service.operations.statuspage import ProcessStatus, ServiceStatus
from hello_service.operations.vitals import processFigures
from hello_service.processes.workerfigures import WorkerFigures
from hello_service.processes.workerprocess import WorkerProcess


class Phase(Enum):
    """
    Where the supervisor is in its life.
    """

    #: Workers are starting; not ready yet.
    STARTING = "starting"
    #: Every slot has a worker serving.
    SERVING = "serving"
    #: A rolling restart is replacing the workers, one at a time.
    RESTARTING = "restarting"
    #: Told to stop: the workers drain, nothing is replaced.
    STOPPING = "stopping"
    #: A crash loop: everything stops and the process exits with status 1.
    GAVE_UP = "gave up"


class Supervised(Protocol):
    """
    What the reports read of the supervisor.
    """

    config: Config
    count: int
    phase: Phase
    started: float
    reactor: Any
    listeners: list[Listener]
    current: dict[int, WorkerProcess]
    alive: set[WorkerProcess]
    restarts: dict[str, int]
    figures: WorkerFigures
    operations: Operations


class SupervisorReports:
    """
    The supervisor's reports of the service, each read when asked.
    """

    def __init__(self, supervisor: Supervised) -> None:
        self._supervisor = supervisor

    def figures(self) -> Figures:
        """
        The figures of the whole service (L{WorkerFigures}), with the
        supervisor's own reactor lag and each certificate's expiry.
        """
        s = self._supervisor
        return s.figures.total(
            s.alive,
            s.operations.lag.seconds,
            {c.description: c.expires for c in s.config.certificates},
        )

    def status(self) -> ServiceStatus:
        """
        The service as the status page shows it: the main process, which
        supervises, and each worker, in slot order.
        """
        s = self._supervisor
        now = s.reactor.seconds()
        main = ProcessStatus(
            name="main",
            serves=False,
            state=s.phase.value,
            pid=os.getpid(),
            started=s.started,
            figures={"process": {"lag": s.operations.lag.seconds, **processFigures()}},
        )
        workers = [
            w.status(now) for w in sorted(s.alive, key=lambda w: (w.slot, w.startedAt))
        ]
        return ServiceStatus(
            version=__version__,
            pid=os.getpid(),
            mode="parallel" if s.config.parallel else "concurrent",
            state=s.phase.value,
            ready=s.operations.readiness.ready,
            started=s.started,
            workers=s.count,
            processes=[main, *workers],
            restarts=dict(s.restarts),
            figures=self.figures(),
        )

    def managerLine(self) -> str:
        """
        The service in the service manager's one line (C{systemctl status}).
        """
        s = self._supervisor
        serving = sum(1 for w in s.current.values() if w.serving and not w.hung)
        figures = self.figures()
        workers = f"{serving} of {s.count} workers serving"
        return statusLine(
            workers if s.phase is Phase.SERVING else f"{s.phase.value}: {workers}",
            figures,
            s.operations.rate.update(figures),
        )

    def servingLine(self) -> str:
        """
        The line that says the service serves: where, with how many
        workers and which, and what chose or bounds them.
        """
        s = self._supervisor
        chosen = s.config.workersChosenBy
        recycling = s.config.recycling.describe()
        return (
            f"hello_service serving on "
            f"{', '.join(listener.address for listener in s.listeners)} "
            f"with {s.count} workers (pids {self.pids()})"
            + (f"; --workers auto chose {s.count} {chosen}" if chosen else "")
            + (f"; {recycling}" if recycling else "")
            + s.operations.admin.described()
        )

    def pids(self) -> str:
        """
        The PIDs of the workers serving the slots, in slot order.
        """
        return ", ".join(
            str(w.pid) for _, w in sorted(self._supervisor.current.items())
        )
