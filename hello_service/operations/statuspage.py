# -*- test-case-name: tests.test_statuspage -*-
"""
The operator's live view: the figures of C{GET /status.json} on the admin
endpoint, which the C{/status} page polls and draws.

Nothing here is counted anew: a service describes itself and each of its
processes (L{ServiceStatus}, L{ProcessStatus}) from the figures its metrics
already keep, and a L{RateHistory} samples each process's answer count once
a second on the main process, for the request rates.  The request path pays
nothing for the page.

The document (every field is documented in C{docs/deploying.rst}) has the
service's C{version}, C{pid}, C{mode}, C{state}, C{ready},
C{uptimeSeconds}, C{workers}, C{restarts} and C{refusals} (what was
refused or cut, by cause, as C{hello_refused_total} counts it); its
C{totals}; and its
C{processes}, the main one first (whose C{role} is C{supervises} when
workers serve, C{serves} in one process), then each worker.  The figures
of a serving process (and the totals, their sums) are its connections
open, in flight and waiting at the limit, its requests per second (over
the last 5 s, and each of the last 60 s), its answers by status class, its
thread pool's busy and queued threads (C{--parallel}), its reactor lag and
its resident memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hello_service.http.counting import (
    REFUSALS,
    Figures,
    Gauges,
    ProcessFigures,
    answeredTotal,
)

#: The status classes answers are counted by on the page.
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")

#: How many seconds of request rates each process keeps, for the chart.
HISTORY_SECONDS = 60
#: The seconds the current request rate is averaged over.
RATE_SECONDS = 5


@dataclass(frozen=True)
class ProcessStatus:
    """
    One process as the page shows it.

    @ivar name: C{main}, or C{worker N}.
    @ivar serves: whether it serves clients (one process; a worker), or
        supervises the workers that do.
    @ivar state: C{starting}, C{serving}, C{draining}, C{not reporting}
        (a worker silent for more than two reports), C{hung, being
        replaced}, or for the main process the service's state.
    @ivar started: when it started, in the reactor's seconds.
    @ivar lastHeard: when its figures last came (a worker's), or C{None}
        for the figures of this very process.
    @ivar figures: its latest figures (a L{Figures}), or C{None} if it has
        sent none yet.
    """

    name: str
    serves: bool
    state: str
    pid: int | None
    started: float
    slot: int | None = None
    lastHeard: float | None = None
    figures: Figures | None = None


@dataclass(frozen=True)
class ServiceStatus:
    """
    The service as the page shows it: what it is, whether the load
    balancer sees it ready, and its processes, the main one first.
    """

    version: str
    pid: int
    mode: str
    state: str
    ready: bool
    started: float
    workers: int
    processes: Sequence[ProcessStatus]
    restarts: dict[str, int] = field(default_factory=dict)
    #: The whole service's figures, as C{/metrics} reports them: the
    #: answers of workers that have ended count too.
    figures: Figures | None = None


def answersByClass(figures: Figures | None) -> dict[str, int]:
    """
    A process's answers by status class (C{2xx}...).
    """
    counts = dict.fromkeys(STATUS_CLASSES, 0)
    for _, status, answered, *_ in (figures or {}).get("kinds", ()):
        counts[f"{status[0]}xx"] += answered
    return counts


def refusalsOf(figures: Figures | None) -> dict[str, int]:
    """
    What the service refused or cut, by cause, every cause present.
    """
    counted = (figures or {}).get("refusals", {})
    return {cause: counted.get(cause, 0) for cause in REFUSALS}


class RateHistory:
    """
    Each process's answer count, sampled once a second, for its request
    rates: the current one (over L{RATE_SECONDS}) and one per second for
    the last L{HISTORY_SECONDS}.  A process is known by its name and PID,
    so a replacement starts its own history.
    """

    def __init__(self) -> None:
        self._samples: dict[tuple[str, int | None], deque[tuple[float, int]]] = {}

    def sample(self, now: float, processes: Iterable[ProcessStatus]) -> None:
        """
        Note each serving process's answer count at C{now}; forget the
        processes that are gone.
        """
        seen = set()
        for process in processes:
            if not process.serves:
                continue
            key = (process.name, process.pid)
            seen.add(key)
            samples = self._samples.setdefault(key, deque(maxlen=HISTORY_SECONDS + 1))
            samples.append((now, answeredTotal(process.figures)))
        for gone in set(self._samples) - seen:
            del self._samples[gone]

    def rate(self, process: ProcessStatus) -> float:
        """
        Answers per second over the last L{RATE_SECONDS} seconds sampled.
        """
        samples = list(self._samples.get((process.name, process.pid), ()))
        recent = samples[-(RATE_SECONDS + 1) :]
        if len(recent) < 2 or recent[-1][0] <= recent[0][0]:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])

    def history(self, process: ProcessStatus) -> list[float]:
        """
        Answers per second in each sampled second, oldest first.
        """
        samples = list(self._samples.get((process.name, process.pid), ()))
        return [
            (later - earlier) / (laterTime - earlierTime)
            if laterTime > earlierTime
            else 0.0
            for (earlierTime, earlier), (laterTime, later) in zip(
                samples, samples[1:], strict=False
            )
        ]


def _figures(process: ProcessStatus, rates: RateHistory) -> dict[str, Any]:
    """
    What the page shows of a serving process's figures.
    """
    figures: Figures = process.figures or {}
    gauges: Gauges = figures.get("gauges", {})
    vitals: ProcessFigures = figures.get("process", {})
    return {
        "connectionsOpen": gauges.get("hello_connections_open", 0),
        "http2ConnectionsOpen": gauges.get("hello_http2_connections_open", 0),
        "http3ConnectionsOpen": gauges.get("hello_http3_connections_open", 0),
        "requestsInFlight": gauges.get("hello_requests_in_flight", 0),
        "connectionsWaiting": gauges.get("hello_connections_waiting", 0),
        "requestsPerSecond": rates.rate(process),
        "requestsPerSecondHistory": rates.history(process),
        "answers": answersByClass(process.figures),
        "threadPoolBusy": gauges.get("hello_threadpool_busy"),
        "threadPoolQueued": gauges.get("hello_threadpool_queued"),
        "reactorLagSeconds": vitals.get("lag"),
        "residentBytes": vitals.get("residentBytes"),
        "requestsAnswered": answeredTotal(process.figures),
        "connectionsAccepted": figures.get("connections", 0),
    }


def _shares(rows: list[dict[str, Any]]) -> None:
    """
    Give each serving process's row its share of the requests answered and
    of the connections accepted (C{None} while there are none): with
    C{--workers}, how evenly the kernel spreads the load.
    """
    for counted, share in (
        ("requestsAnswered", "requestShare"),
        ("connectionsAccepted", "connectionShare"),
    ):
        total = sum(row[counted] for row in rows)
        for row in rows:
            row[share] = round(row[counted] / total, 4) if total else None


def _summed(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """
    The service's totals: the sums of its serving processes' figures (the
    lag: the worst; the chart: second by second, aligned on the latest; the
    memory: the main process's too, and the answers: those of the processes
    that have ended too, both from L{statusDocument}).
    """
    totals: dict[str, Any] = {
        "connectionsOpen": 0,
        "http2ConnectionsOpen": 0,
        "http3ConnectionsOpen": 0,
        "requestsInFlight": 0,
        "connectionsWaiting": 0,
        "requestsPerSecond": 0.0,
        "answers": dict.fromkeys(STATUS_CLASSES, 0),
        "threadPoolBusy": None,
        "threadPoolQueued": None,
        "reactorLagSeconds": None,
        "residentBytes": None,
    }
    history: list[float] = []
    for row in rows:
        for name in (
            "connectionsOpen",
            "http2ConnectionsOpen",
            "http3ConnectionsOpen",
            "requestsInFlight",
            "connectionsWaiting",
        ):
            totals[name] += row[name]
        totals["requestsPerSecond"] += row["requestsPerSecond"]
        for status in STATUS_CLASSES:
            totals["answers"][status] += row["answers"][status]
        for name in ("threadPoolBusy", "threadPoolQueued", "residentBytes"):
            if row[name] is not None:
                totals[name] = (totals[name] or 0) + row[name]
        if row["reactorLagSeconds"] is not None:
            totals["reactorLagSeconds"] = max(
                totals["reactorLagSeconds"] or 0.0, row["reactorLagSeconds"]
            )
        mine = row["requestsPerSecondHistory"]
        width = max(len(history), len(mine))
        history = [0.0] * (width - len(history)) + history
        history[width - len(mine) :] = [
            a + b for a, b in zip(history[width - len(mine) :], mine, strict=True)
        ]
    totals["requestsPerSecondHistory"] = history
    return totals


def statusDocument(
    service: ServiceStatus, rates: RateHistory, now: float
) -> dict[str, Any]:
    """
    The C{/status.json} document of C{service} at C{now}.
    """
    processes = []
    serving = []
    supervising = 0
    for process in service.processes:
        row: dict[str, Any] = {
            "name": process.name,
            "role": "serves" if process.serves else "supervises",
            "slot": process.slot,
            "pid": process.pid,
            "state": process.state,
            "uptimeSeconds": round(now - process.started, 3),
            "secondsSinceReport": (
                None if process.lastHeard is None else round(now - process.lastHeard, 3)
            ),
        }
        if process.serves:
            row.update(_figures(process, rates))
            serving.append(row)
        else:
            vitals = (process.figures or {}).get("process", {})
            row["reactorLagSeconds"] = vitals.get("lag")
            row["residentBytes"] = vitals.get("residentBytes")
            supervising += row["residentBytes"] or 0
        processes.append(row)
    _shares(serving)
    totals = _summed(serving)
    if service.figures is not None:
        totals["answers"] = answersByClass(service.figures)
    if supervising and totals["residentBytes"] is not None:
        totals["residentBytes"] += supervising
    return {
        "version": service.version,
        "pid": service.pid,
        "mode": service.mode,
        "state": service.state,
        "ready": service.ready,
        "uptimeSeconds": round(now - service.started, 3),
        "workers": service.workers,
        "restarts": dict(service.restarts),
        "refusals": refusalsOf(service.figures),
        "totals": totals,
        "processes": processes,
    }
