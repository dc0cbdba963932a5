# -*- test-case-name: tests.test_admin,tests.system.test_admin -*-
"""
The admin endpoint (C{--admin DESCRIPTION}), apart from the public ports:

  - C{GET /metrics}: the Prometheus text exposition, by C{prometheus_client};
  - C{GET /ready}: 200 while serving, 503 from the moment a drain starts, so
    a load balancer's health check takes the instance out before any
    connection is refused;
  - C{GET /live}: 200 while the process runs;
  - C{GET /status}: the operator's live view, one HTML page that polls
  - C{GET /status.json}, the figures of L{hello_service.operations.statuspage}, which are
    for scripts too.

The figures are counted as plain numbers on the request path
(L{hello_service.http.counting}); L{HelloCollector} hands them to
C{prometheus_client} only when it is scraped.  It is a small C{twisted.web} site: its traffic is a few requests a second,
and its answers are not logged (a health check every few hundred
milliseconds would drown the access log).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any, cast

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from twisted.internet.interfaces import (
    IReactorTime,
)
from twisted.internet.task import LoopingCall
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from hello_service import __version__
from hello_service.http.counting import (
    ANSWER_KINDS,
    DURATION_BUCKETS,
    GAUGE_HELP,
    POOL_GAUGES,
    REFUSALS,
    ROUTE_LABELS,
    Figures,
    gaugeTable,
)
from hello_service.operations.statuspage import (
    RateHistory,
    ServiceStatus,
    statusDocument,
)


class HelloCollector(Collector):
    """
    The service's figures for C{prometheus_client}, read at scrape time.

    Every series the service can report exists from the first scrape, at
    zero until something happens: a rate or a ratio over a series that
    appears only with the first error alerts on nothing.
    """

    def __init__(
        self,
        figures: Callable[[], Figures],
        ready: Callable[[], bool],
        restarts: Callable[[], dict[str, int]] = dict,
    ) -> None:
        self._figures = figures
        self._ready = ready
        self._restarts = restarts

    def collect(self) -> Iterable[Metric]:
        figures = self._figures()
        build = GaugeMetricFamily(
            "hello_build_info",
            "The version of hello_service running (the value is always 1).",
            labels=["version"],
        )
        build.add_metric([__version__], 1)
        yield build
        yield GaugeMetricFamily(
            "hello_ready",
            "1 while /ready answers 200; 0 while starting or draining.",
            value=1 if self._ready() else 0,
        )
        yield from _requestFamilies(
            figures["kinds"],
            figures.get("http2Kinds", []),
            figures.get("http3Kinds", []),
        )
        held = gaugeTable(figures["gauges"])
        for name, help in GAUGE_HELP.items():
            if name in held or name not in POOL_GAUGES:
                yield GaugeMetricFamily(name, help, value=held.get(name, 0))
        yield CounterMetricFamily(
            "hello_connections",
            "Client connections accepted.",
            value=figures.get("connections", 0),
        )
        yield from _processFamilies(figures)
        restarts = CounterMetricFamily(
            "hello_worker_restarts",
            "Workers started in place of one that crashed, hung or was recycled.",
            labels=["cause"],
        )
        for cause, count in sorted(self._restarts().items()):
            restarts.add_metric([cause], count)
        yield restarts
        refused = CounterMetricFamily(
            "hello_refused",
            "Requests, streams and connections refused or cut, by cause "
            "(malformed requests, limits, timeouts, the connection limit "
            "reached, HTTP/2's bounds against abuse): what the access log "
            "cannot show.",
            labels=["cause"],
        )
        counted = figures.get("refusals", {})
        for cause in REFUSALS:
            refused.add_metric([cause], counted.get(cause, 0))
        yield refused
        expiry = GaugeMetricFamily(
            "hello_tls_certificate_expiry_timestamp_seconds",
            "When the certificate each ssl: listener presents expires, in "
            "seconds since the epoch (SIGHUP reloads it).",
            labels=["listen"],
        )
        for description, expires in sorted(figures.get("certificates", {}).items()):
            expiry.add_metric([description], expires)
        yield expiry


def _requestFamilies(
    kinds: list[list[Any]],
    http2Kinds: list[list[Any]],
    http3Kinds: list[list[Any]],
) -> Iterable[Metric]:
    """
    The answers counted, by route, status and protocol, every kind the
    service can answer (L{ANSWER_KINDS}) present for every protocol; and
    their durations, by route.
    """
    answeredBy = {(label, status): kind for label, status, *kind in kinds}
    overHTTP2 = {(label, status): count for label, status, count in http2Kinds}
    overHTTP3 = {(label, status): count for label, status, count in http3Kinds}
    requests = CounterMetricFamily(
        "hello_requests",
        "Requests answered.",
        labels=["route", "status", "protocol"],
    )
    buckets = len(DURATION_BUCKETS) + 1
    byRoute: dict[str, list[Any]] = {
        label: [0, [0] * buckets, 0.0] for label in ROUTE_LABELS
    }
    for label, statusBytes in ANSWER_KINDS:
        status = statusBytes.decode("ascii")
        answered, waited, seconds = answeredBy.get(
            (label, status), (0, [0] * buckets, 0.0)
        )
        http2 = overHTTP2.get((label, status), 0)
        http3 = overHTTP3.get((label, status), 0)
        requests.add_metric([label, status, "HTTP/1.1"], answered - http2 - http3)
        requests.add_metric([label, status, "HTTP/2"], http2)
        requests.add_metric([label, status, "HTTP/3"], http3)
        route = byRoute[label]
        route[0] += answered
        route[1] = [a + b for a, b in zip(route[1], waited, strict=True)]
        route[2] += seconds
    yield requests
    durations = HistogramMetricFamily(
        "hello_request_duration_seconds",
        "Time from a request's last byte read to its answer: what the answer "
        "waited for (the /sleep delay, a thread, the requests before it), not "
        "how long the request waited to be read (see hello_reactor_lag_seconds).",
        labels=["route"],
    )
    for label, (answered, waited, seconds) in byRoute.items():
        # Answers that did not wait took no measurable time.
        cumulative = answered - sum(waited)
        histogram = []
        for bound, count in zip(DURATION_BUCKETS, waited, strict=False):
            cumulative += count
            histogram.append((repr(bound), cumulative))
        histogram.append(("+Inf", answered))
        durations.add_metric([label], histogram, sum_value=seconds)
    yield durations


def _processFamilies(figures: Figures) -> Iterable[Metric]:
    """
    How far behind each process's reactor runs, and, with C{--workers}, each
    worker's memory, CPU time and descriptors (the C{process_*} series
    describe the process serving /metrics: with workers, the main one).
    """
    lag = GaugeMetricFamily(
        "hello_reactor_lag_seconds",
        "How late a timer due every 0.1 s fired, the worst of the last second: "
        "how long any event waited for the reactor.",
        labels=["process"],
    )
    lag.add_metric(["main"], figures.get("process", {}).get("lag", 0.0))
    workers = sorted(figures.get("workers", {}).items(), key=lambda w: int(w[0]))
    for slot, worker in workers:
        lag.add_metric([f"worker-{slot}"], worker["lag"])
    yield lag
    if "workers" not in figures:
        return
    for name, key, help, family in [
        ("hello_worker_resident_memory_bytes", "residentBytes",
         "Each worker's resident memory.", GaugeMetricFamily),
        ("hello_worker_cpu_seconds", "cpuSeconds",
         "Each worker's user and system CPU time.", CounterMetricFamily),
        ("hello_worker_open_fds", "openDescriptors",
         "Each worker's open file descriptors.", GaugeMetricFamily),
        ("hello_worker_requests", "requests",
         "Requests each worker answered since it started: its share of the "
         "load.", CounterMetricFamily),
        ("hello_worker_connections", "connections",
         "Connections each worker accepted since it started: how the kernel "
         "spread them.", CounterMetricFamily),
    ]:  # fmt: skip
        metric = family(name, help, labels=["worker"])
        for slot, worker in workers:
            value = cast(Mapping[str, float | None], worker).get(key)
            if value is not None:
                metric.add_metric([slot], value)
        yield metric


class _Text(Resource):
    """
    A plain-text answer computed per request.
    """

    isLeaf = True

    def __init__(self, answer: Callable[[], tuple[int, bytes]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._answer = answer

    def render_GET(self, request: Request) -> bytes:
        status, body = self._answer()
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        return body


class _Metrics(Resource):
    """
    The Prometheus exposition of a registry, made on the reactor thread
    (where the figures it reads live).
    """

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
        return generate_latest(self._registry)


class AdminSite(Site):
    """
    The admin endpoint's site, whose requests are not logged.
    """

    noisy = False

    def log(self, request: http.Request) -> None:
        """
        Health checks and scrapes come every few seconds: not logged.
        """


class _JSON(Resource):
    """
    A JSON document computed per request.
    """

    isLeaf = True

    def __init__(self, document: Callable[[], Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._document = document

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        return json.dumps(self._document(), separators=(",", ":")).encode("utf-8")


class _StatusPage(Resource):
    """
    The status page: one file, its style and script inline, nothing
    fetched but C{/status.json} (the policy below lets it fetch nothing
    else).
    """

    isLeaf = True
    #: The page, read once.
    page = (
        resources.files("hello_service.operations")
        .joinpath("statuspage.html")
        .read_bytes()
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"x-content-type-options", b"nosniff")
        request.setHeader(
            b"content-security-policy",
            b"default-src 'none'; style-src 'unsafe-inline'; "
            b"script-src 'unsafe-inline'; connect-src 'self'; "
            b"frame-ancestors 'none'; base-uri 'none'",
        )
        return self.page


class StatusRecorder:
    """
    Samples the service's processes once a second for their request rates
    (L{RateHistory}), and makes the status document from them.
    """

    def __init__(
        self, status: Callable[[], ServiceStatus], clock: IReactorTime
    ) -> None:
        self._status = status
        self._clock = clock
        self.rates = RateHistory()
        self._sampling = LoopingCall(self.sample)
        self._sampling.clock = clock

    def sample(self) -> None:
        self.rates.sample(self._clock.seconds(), self._status().processes)

    def document(self) -> dict[str, Any]:
        return statusDocument(self._status(), self.rates, self._clock.seconds())

    def start(self) -> None:
        if not self._sampling.running:
            self._sampling.start(1.0, now=True)

    def stop(self) -> None:
        if self._sampling.running:
            self._sampling.stop()


def adminSite(
    figures: Callable[[], Figures],
    ready: Callable[[], bool],
    restarts: Callable[[], dict[str, int]] = dict,
    status: StatusRecorder | None = None,
) -> AdminSite:
    """
    The admin site of a service: its figures (C{figures}, and how many
    workers were restarted), whether it is C{ready} for traffic, and its
    status page.
    """
    registry = CollectorRegistry()
    registry.register(HelloCollector(figures, ready, restarts))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    root = Resource()
    root.putChild(b"metrics", _Metrics(registry))
    root.putChild(
        b"ready",
        _Text(lambda: (200, b"ready\n") if ready() else (503, b"draining\n")),
    )
    root.putChild(b"live", _Text(lambda: (200, b"live\n")))
    if status is not None:
        root.putChild(b"status", _StatusPage())
        root.putChild(b"status.json", _JSON(status.document))
    return AdminSite(root)  # type: ignore[no-untyped-call]
