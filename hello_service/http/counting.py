# -*- test-case-name: tests.test_counting -*-
"""
What the service counts, as plain numbers, free of Twisted and of
C{prometheus_client}.

The request path only adds to plain integers (L{RequestCounts}): one list
increment per answer, indexed by the answer's kind (its route label and
status, L{answerKind}), and, for answers that waited (C{/sleep}, the thread
pool, a pipelined request behind them), one histogram bucket.  The admin
endpoint reads their L{Figures} when it is scraped: in one process the live
figures, with C{--workers} the sum of every worker's latest figures (each
worker sends them every second to the main process, and a last time when it
stops).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any, TypedDict, Unpack, cast

from hello_service.http import statuslines

#: The route labels the metrics know: those of the route table
#: (L{hello_service.answers.routes}), and C{other} for everything else.
ROUTE_LABELS = ("/", "/sleep", "other")

#: Every kind of answer the metrics count, as (route label, status code):
#: a kind is its index here, so that the request path counts an answer with
#: one list increment.  The table is fixed: nothing grows at request time.
ANSWER_KINDS: tuple[tuple[str, bytes], ...] = tuple(
    (label, status[:3]) for label in ROUTE_LABELS for status in statuslines.ALL
)
_KIND_INDEXES = {kind: index for index, kind in enumerate(ANSWER_KINDS)}


def answerKind(label: str, status: bytes) -> int:
    """
    The index of the answers of route C{label} with C{status} (its code, or
    its whole status line).
    """
    try:
        return _KIND_INDEXES[label, status[:3]]
    except KeyError:
        raise ValueError(f"no answer kind {label!r} {status!r}") from None


#: What the service refuses or cuts, by cause, as C{/metrics} counts it:
#: an attack the access log cannot show (a connection cut for a timeout or
#: for abuse, a refused stream, logs no request) shows here.
REFUSALS = (
    # Both protocols: a request answered with a refusal, by its status
    # (L{refusalCause}), and connections cut for the client's slowness.
    "malformed",
    "header_limit",
    "body_limit",
    "header_timeout",
    "idle_timeout",
    "write_timeout",
    # Each time C{--max-connections} (or the descriptor limit) was reached
    # and accepting paused: new clients then wait in the listen backlog.
    "connection_limit",
    # HTTP/2's own: a stream past the limit, and its bounds against abuse.
    "refused_stream",
    "rapid_reset",
    "control_flood",
    "protocol_error",
    # HTTP/3's own (--http3): what a UDP port drops or answers without a
    # connection, and the bounds on who may open one.
    "quic_garbage",
    "quic_version",
    "quic_unknown_connection",
    "quic_other_worker",
    "quic_undecryptable",
    "quic_invalid_token",
    "quic_retry",
    "quic_retry_rate",
    "quic_handshakes",
    "quic_draining",
    "quic_send_dropped",
)

#: The refusal each refusing status is counted as (an answer of any other
#: status, a 500 among them, is no refusal).
_REFUSED_BY_STATUS = {
    statuslines.BAD_REQUEST[:3]: "malformed",
    statuslines.METHOD_NOT_ALLOWED[:3]: "malformed",
    statuslines.VERSION_NOT_SUPPORTED[:3]: "malformed",
    statuslines.URI_TOO_LONG[:3]: "header_limit",
    statuslines.HEADERS_TOO_LARGE[:3]: "header_limit",
    statuslines.CONTENT_TOO_LARGE[:3]: "body_limit",
    statuslines.REQUEST_TIMEOUT[:3]: "header_timeout",
}


def refusalCause(status: bytes) -> str | None:
    """
    What a refusal answered with C{status} (its code, or its whole status
    line) is counted as, in either protocol; C{None} for a status that
    refuses nothing.
    """
    return _REFUSED_BY_STATUS.get(status[:3])


#: Upper bounds of the request duration histogram, in seconds: answers from
#: memory land in the first; C{/sleep} (5 s by default) near the last.
DURATION_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Gauges(TypedDict, total=False):
    """
    What a process holds now, each a gauge of C{/metrics} under its own
    name (L{GAUGE_HELP} says what each means).
    """

    hello_connections_open: int
    hello_http2_connections_open: int
    hello_http3_connections_open: int
    hello_requests_in_flight: int
    hello_connections_waiting: int
    hello_threadpool_busy: int
    hello_threadpool_queued: int


#: The one table of gauges: each name L{Gauges} may carry, with the help
#: text C{/metrics} gives it.
GAUGE_HELP = {
    "hello_connections_open": "Client connections open.",
    "hello_http2_connections_open": "Client connections open that speak HTTP/2.",
    "hello_http3_connections_open": "QUIC connections open (HTTP/3), among them.",
    "hello_requests_in_flight": "Requests received, in part or whole, not yet answered.",
    "hello_connections_waiting": "Connections held unread at --max-connections.",
    "hello_threadpool_busy": "Request threads running work (--parallel).",
    "hello_threadpool_queued": "Request work waiting for a thread (--parallel).",
}

#: The gauges that exist only with a thread pool (C{--parallel}).
POOL_GAUGES = frozenset({"hello_threadpool_busy", "hello_threadpool_queued"})


def gaugeTable(gauges: Gauges) -> dict[str, int]:
    """
    The gauges as a table by name, to sum or list them all (L{GAUGE_HELP}
    names every one).
    """
    return cast(dict[str, int], gauges)


class ProcessFigures(TypedDict, total=False):
    """
    How one process is doing: its reactor's lag (seconds), resident memory
    (bytes), CPU time (seconds) and open descriptors (C{None} where the
    system does not tell).
    """

    lag: float
    residentBytes: int | None
    cpuSeconds: float
    openDescriptors: int | None
    requests: int
    connections: int


#: One kind of answer's counts: route label, status code, answers, answers
#: that waited by duration bucket (L{DURATION_BUCKETS}), seconds waited.
#: A list, as JSON carries it from a worker.
KindCounts = list[Any]


class Figures(TypedDict, total=False):
    """
    The figures of a process (L{RequestCounts.figures}, with what its
    service adds), or of a service of workers, summed (L{addFigures}): the
    one record C{/metrics}, the status page and the service manager's line
    read, and the one a worker sends its supervisor every second, as JSON.

    @ivar kinds: every kind of answer given (L{KindCounts}).
    @ivar http2Kinds: of those, the answers sent over HTTP/2: route label,
        status code, answers.
    @ivar http3Kinds: the same, over HTTP/3.
    @ivar gauges: what is held now (L{Gauges}).
    @ivar refusals: what was refused or cut, by cause (L{REFUSALS}).
    @ivar connections: connections accepted.
    @ivar process: how this process is doing (L{ProcessFigures}).
    @ivar certificates: each C{ssl:} listener's certificate's expiry, in
        seconds since the epoch, by its description.
    @ivar workers: with C{--workers}, how each worker serving is doing, by
        slot.
    """

    kinds: list[KindCounts]
    http2Kinds: list[list[Any]]
    http3Kinds: list[list[Any]]
    gauges: Gauges
    refusals: dict[str, int]
    connections: int
    process: ProcessFigures
    certificates: dict[str, float]
    workers: dict[str, ProcessFigures]


class RequestCounts:
    """
    The figures of one process's requests, as plain numbers.

    @ivar answered: answers by kind (L{answerKind}).
    @ivar waited: by kind, how many answers did not go out in the turn their
        request completed in, by duration bucket (the last for longer than
        all bounds); every other answer took no measurable time.
    @ivar waitedSeconds: by kind, the sum of those durations.
    """

    __slots__ = (
        "answered",
        "answeredHTTP2",
        "answeredHTTP3",
        "waited",
        "waitedSeconds",
        "refusals",
        "connections",
    )

    def __init__(self) -> None:
        self.answered = [0] * len(ANSWER_KINDS)
        #: Of those, the answers sent over HTTP/2, by kind.
        self.answeredHTTP2 = [0] * len(ANSWER_KINDS)
        #: And over HTTP/3.
        self.answeredHTTP3 = [0] * len(ANSWER_KINDS)
        self.waited = [
            [0] * (len(DURATION_BUCKETS) + 1) for _ in range(len(ANSWER_KINDS))
        ]
        self.waitedSeconds = [0.0] * len(ANSWER_KINDS)
        #: What was refused or cut, by cause (L{REFUSALS}).
        self.refusals = dict.fromkeys(REFUSALS, 0)
        #: Connections accepted.
        self.connections = 0

    def refused(self, cause: str) -> None:
        """
        One more refusal for C{cause} (one of L{REFUSALS}).
        """
        self.refusals[cause] += 1

    def refusedWith(self, status: bytes) -> None:
        """
        A request was refused with C{status}: count it by its cause, if it
        has one (L{refusalCause}).
        """
        cause = refusalCause(status)
        if cause is not None:
            self.refusals[cause] += 1

    def observeWait(self, seconds: float, kind: int) -> None:
        """
        An answer of C{kind} went out C{seconds} after its request completed.
        """
        self.waited[kind][bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.waitedSeconds[kind] += seconds

    def figures(self, **gauges: Unpack[Gauges]) -> Figures:
        """
        The figures as JSON-able data, by route label and status, with the
        given gauges.
        """
        kinds = []
        for (label, status), answered, waited, seconds in zip(
            ANSWER_KINDS, self.answered, self.waited, self.waitedSeconds, strict=True
        ):
            if answered:
                kinds.append([label, status.decode("ascii"), answered, waited, seconds])
        return {
            "kinds": kinds,
            "http2Kinds": _byKind(self.answeredHTTP2),
            "http3Kinds": _byKind(self.answeredHTTP3),
            "gauges": gauges,
            "refusals": dict(self.refusals),
            "connections": self.connections,
        }


def _byKind(answered: list[int]) -> list[list[Any]]:
    """Answers of one protocol: route label, status code, answers."""
    return [
        [label, status.decode("ascii"), count]
        for (label, status), count in zip(ANSWER_KINDS, answered, strict=True)
        if count
    ]


def _addByKind(
    total: dict[tuple[str, str], int], answered: Iterable[list[Any]]
) -> None:
    for label, status, count in answered:
        total[label, status] = total.get((label, status), 0) + count


def answeredTotal(figures: Figures | None) -> int:
    """
    How many answers figures count, of every kind.
    """
    return int(sum(kind[2] for kind in (figures or {}).get("kinds", ())))


def addFigures(reports: Iterable[Figures]) -> Figures:
    """
    The sum of several processes' figures.
    """
    kinds: dict[tuple[str, str], list[Any]] = {}
    gauges: dict[str, int] = {}
    refusals = dict.fromkeys(REFUSALS, 0)
    http2: dict[tuple[str, str], int] = {}
    http3: dict[tuple[str, str], int] = {}
    connections = 0
    for figures in reports:
        counted = gaugeTable(figures["gauges"])
        connections += figures.get("connections", 0)
        _addByKind(http2, figures.get("http2Kinds", ()))
        _addByKind(http3, figures.get("http3Kinds", ()))
        # A worker of an older release (during a rolling restart) sends none.
        for cause, count in figures.get("refusals", {}).items():
            refusals[cause] = refusals.get(cause, 0) + count
        for label, status, answered, waited, seconds in figures["kinds"]:
            total = kinds.setdefault(
                (label, status), [label, status, 0, [0] * len(waited), 0.0]
            )
            total[2] += answered
            total[3] = [a + b for a, b in zip(total[3], waited, strict=True)]
            total[4] += seconds
        for name, value in counted.items():
            gauges[name] = gauges.get(name, 0) + value
    return {
        "kinds": list(kinds.values()),
        "http2Kinds": [[label, status, n] for (label, status), n in http2.items()],
        "http3Kinds": [[label, status, n] for (label, status), n in http3.items()],
        "gauges": cast(Gauges, gauges),
        "refusals": refusals,
        "connections": connections,
    }
