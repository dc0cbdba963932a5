# -*- test-case-name: tests.test_admin -*-
"""
What the service counts, and how it is shown to Prometheus.

The request path only adds to plain integers (L{RequestCounts}): one
dictionary increment per answer, and, for answers that waited (C{/sleep},
the thread pool, a pipelined request behind them), one histogram bucket.
C{prometheus_client} sees the figures only when it is scraped, through
L{HelloCollector}, which reads a L{Snapshot} of them: in one process the
live figures, with C{--workers} the sum of every worker's latest snapshot
(each worker sends one every second to the main process, and a last one when
it stops).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from hello_service.http import ANSWER_KINDS, MAX_ANSWER_KINDS

#: Upper bounds of the request duration histogram, in seconds: answers from
#: memory land in the first; C{/sleep} (5 s by default) near the last.
DURATION_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: A JSON-able snapshot of the figures: see L{RequestCounts.snapshot}.
Snapshot = dict[str, Any]


class RequestCounts:
    """
    The figures of one process's requests, as plain numbers.

    @ivar answered: answers by kind (L{http.answerKind}).
    @ivar waited: by kind, how many answers did not go out in the turn their
        request completed in, by duration bucket (the last for longer than
        all bounds); every other answer took no measurable time.
    @ivar waitedSeconds: by kind, the sum of those durations.
    """

    __slots__ = ("answered", "waited", "waitedSeconds")

    def __init__(self) -> None:
        self.answered = [0] * MAX_ANSWER_KINDS
        self.waited = [
            [0] * (len(DURATION_BUCKETS) + 1) for _ in range(MAX_ANSWER_KINDS)
        ]
        self.waitedSeconds = [0.0] * MAX_ANSWER_KINDS

    def observeWait(self, seconds: float, kind: int) -> None:
        """
        An answer of C{kind} went out C{seconds} after its request completed.
        """
        self.waited[kind][bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.waitedSeconds[kind] += seconds

    def snapshot(self, **gauges: float) -> Snapshot:
        """
        The figures as JSON-able data, by route label and status, with the
        given gauges.
        """
        kinds = []
        for (label, status), answered, waited, seconds in zip(
            ANSWER_KINDS, self.answered, self.waited, self.waitedSeconds, strict=False
        ):
            if answered:
                kinds.append([label, status.decode("ascii"), answered, waited, seconds])
        return {"kinds": kinds, "gauges": gauges}


def addSnapshots(snapshots: Iterable[Snapshot]) -> Snapshot:
    """
    The sum of several processes' snapshots.
    """
    kinds: dict[tuple[str, str], list[Any]] = {}
    gauges: dict[str, float] = {}
    for snapshot in snapshots:
        for label, status, answered, waited, seconds in snapshot["kinds"]:
            total = kinds.setdefault(
                (label, status), [label, status, 0, [0] * len(waited), 0.0]
            )
            total[2] += answered
            total[3] = [a + b for a, b in zip(total[3], waited, strict=True)]
            total[4] += seconds
        for name, value in snapshot["gauges"].items():
            gauges[name] = gauges.get(name, 0) + value
    return {"kinds": list(kinds.values()), "gauges": gauges}


#: The gauges a snapshot may carry, with their help text.
GAUGES = {
    "hello_connections_open": "Client connections open.",
    "hello_requests_in_flight": "Requests received, in part or whole, not yet answered.",
    "hello_connections_waiting": "Connections held unread at --max-connections.",
    "hello_threadpool_busy": "Request threads running work (--parallel).",
    "hello_threadpool_queued": "Request work waiting for a thread (--parallel).",
}


class HelloCollector(Collector):
    """
    The service's figures for C{prometheus_client}, read at scrape time.
    """

    def __init__(
        self, snapshot: Callable[[], Snapshot], restarts: Callable[[], int]
    ) -> None:
        self._snapshot = snapshot
        self._restarts = restarts

    def collect(self) -> Iterable[Metric]:
        snapshot = self._snapshot()
        requests = CounterMetricFamily(
            "hello_requests", "Requests answered.", labels=["route", "status"]
        )
        byRoute: dict[str, list[Any]] = {}
        for label, status, answered, waited, seconds in sorted(snapshot["kinds"]):
            requests.add_metric([label, status], answered)
            route = byRoute.setdefault(label, [0, [0] * len(waited), 0.0])
            route[0] += answered
            route[1] = [a + b for a, b in zip(route[1], waited, strict=True)]
            route[2] += seconds
        yield requests
        durations = HistogramMetricFamily(
            "hello_request_duration_seconds",
            "Time from a request's last byte to its answer.",
            labels=["route"],
        )
        for label, (answered, waited, seconds) in sorted(byRoute.items()):
            # Answers that did not wait took no measurable time.
            cumulative = answered - sum(waited)
            buckets = []
            for bound, count in zip(DURATION_BUCKETS, waited, strict=False):
                cumulative += count
                buckets.append((repr(bound), cumulative))
            buckets.append(("+Inf", answered))
            durations.add_metric([label], buckets, sum_value=seconds)
        yield durations
        for name, help in GAUGES.items():
            if name in snapshot["gauges"]:
                yield GaugeMetricFamily(name, help, value=snapshot["gauges"][name])
        yield CounterMetricFamily(
            "hello_worker_restarts",
            "Workers started in place of one that died.",
            value=self._restarts(),
        )
