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

from hello_service.http.counting import Snapshot, addSnapshots


class Reporting(Protocol):
    """
    What the figures read of a worker.
    """

    slot: int
    retiring: bool
    metrics: Snapshot | None


class WorkerFigures:
    """
    The counters of the workers that ended, and the sum with those alive.
    """

    def __init__(self) -> None:
        self._ended: Snapshot = addSnapshots([])

    def ended(self, worker: Reporting) -> None:
        """
        Keep the counters of a worker that ended (its gauges end with it).
        """
        if worker.metrics is not None:
            counters = dict(worker.metrics, gauges={})
            self._ended = addSnapshots([self._ended, counters])

    def snapshot(
        self, alive: Iterable[Reporting], lag: float, certificates: Mapping[str, float]
    ) -> Snapshot:
        """
        The figures of the whole service, from the workers C{alive}, the
        supervisor's reactor C{lag} and the C{certificates}' expiries.
        """
        reporting = [w for w in alive if w.metrics is not None]
        snapshot = addSnapshots([self._ended] + [w.metrics for w in reporting])  # type: ignore[misc]
        snapshot["process"] = {"lag": lag}
        snapshot["certificates"] = dict(certificates)
        # A worker of an older release (being replaced by a rolling
        # restart) may report no process figures.
        snapshot["workers"] = {
            str(w.slot): w.metrics["process"]  # type: ignore[index]
            for w in reporting
            if not w.retiring and "process" in w.metrics  # type: ignore[operator]
        }
        return snapshot
