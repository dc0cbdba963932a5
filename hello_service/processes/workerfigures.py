# -*- test-case-name: tests.test_supervisor,tests.test_statuspage -*-
"""
The figures of a service of workers, as C{/metrics}, the status page and
the service manager's line read them: the latest report of each worker
alive, summed with the counters of those that ended (so that a total
never goes back when a worker is replaced), beside the supervisor's own
reactor lag, each certificate's expiry and each worker's process figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from hello_service.http.counting import (
    Figures,
    ProcessFigures,
    addFigures,
    answeredTotal,
)


class Reporting(Protocol):
    """
    What the figures read of a worker.
    """

    slot: int
    retiring: bool
    figures: Figures | None


class WorkerFigures:
    """
    The counters of the workers that ended, and the sum with those alive.
    """

    def __init__(self) -> None:
        self._ended: Figures = addFigures([])

    def ended(self, worker: Reporting) -> None:
        """
        Keep the counters of a worker that ended (its gauges end with it).
        """
        if worker.figures is not None:
            counters: Figures = {**worker.figures, "gauges": {}}
            self._ended = addFigures([self._ended, counters])

    def total(
        self, alive: Iterable[Reporting], lag: float, certificates: Mapping[str, float]
    ) -> Figures:
        """
        The figures of the whole service, from the workers C{alive}, the
        supervisor's reactor C{lag} and the C{certificates}' expiries.
        """
        reporting = [w for w in alive if w.figures is not None]
        figures = addFigures([self._ended] + [w.figures for w in reporting])  # type: ignore[misc]
        figures["process"] = {"lag": lag}
        figures["certificates"] = dict(certificates)
        # A worker of an older release (being replaced by a rolling
        # restart) may report no process figures.
        figures["workers"] = {
            str(w.slot): _served(w.figures)  # type: ignore[arg-type]
            for w in reporting
            if not w.retiring and "process" in w.figures  # type: ignore[operator]
        }
        return figures


def _served(figures: Figures) -> ProcessFigures:
    """
    How one worker is doing, with what it has served since it started:
    requests answered and connections accepted (its share of the load).
    """
    return {
        **figures["process"],
        "requests": answeredTotal(figures),
        "connections": figures.get("connections", 0),
    }
