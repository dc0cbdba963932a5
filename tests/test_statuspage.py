"""
Tests for L{hello_service.operations.statuspage} and the status resources of the admin
site, in memory: the exact C{/status.json} of a service with known counts,
in one process and with workers in every state.  The page in a real
browser is in C{tests.system.test_statuspage}.
"""

from __future__ import annotations

import json
import os
import signal

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from hello_service import __version__
from hello_service.http import counting
from hello_service.operations.admin import StatusRecorder
from hello_service.operations.statuspage import (
    ProcessStatus,
    RateHistory,
    ServiceStatus,
    answersByClass,
    statusDocument,
)

from .test_supervisor import ready, supervisor
from .test_tap import built


def figures(**byStatus: int) -> counting.Figures:
    """
    A process's figures with C{byStatus} answers of C{/}, by status code.
    """
    counts = counting.RequestCounts()
    for status, answered in byStatus.items():
        counts.answered[counting.answerKind("/", status[1:].encode())] = answered
    return counts.figures(hello_connections_open=2)


def serving(name: str, pid: int, answered: int) -> ProcessStatus:
    return ProcessStatus(
        name, True, "serving", pid, 0.0, figures=figures(s200=answered)
    )


class RateHistoryTests(SynchronousTestCase):
    def test_rateAndHistory(self) -> None:
        """
        The rate is over the last 5 s sampled; the history has one figure
        per sampled second, oldest first; a process that supervises is not
        sampled.
        """
        rates = RateHistory()
        main = ProcessStatus("main", False, "serving", 1, 0.0)
        for second, answered in enumerate([0, 10, 30, 60, 100, 150, 210]):
            rates.sample(float(second), [main, serving("worker 1", 7, answered)])
        worker = serving("worker 1", 7, 0)
        self.assertEqual(rates.rate(worker), (210 - 10) / 5)
        self.assertEqual(rates.history(worker), [10, 20, 30, 40, 50, 60])
        self.assertEqual(rates.rate(main), 0.0)
        self.assertEqual(rates.history(main), [])

    def test_twoSamples(self) -> None:
        """
        Two samples a second apart are enough for a rate and a history.
        """
        rates = RateHistory()
        rates.sample(0.0, [serving("main", 1, 0)])
        rates.sample(1.0, [serving("main", 1, 40)])
        self.assertEqual(rates.rate(serving("main", 1, 0)), 40.0)
        self.assertEqual(rates.history(serving("main", 1, 0)), [40.0])

    def test_replacementStartsAfresh(self) -> None:
        """
        A process is known by name and PID: its replacement (a new PID)
        has no history, and the gone one is forgotten.
        """
        rates = RateHistory()
        rates.sample(0.0, [serving("worker 1", 7, 0)])
        rates.sample(1.0, [serving("worker 1", 7, 50)])
        rates.sample(2.0, [serving("worker 1", 8, 5)])
        self.assertEqual(rates.rate(serving("worker 1", 8, 0)), 0.0)
        self.assertEqual(rates.history(serving("worker 1", 7, 0)), [])
        self.assertEqual(list(rates._samples), [("worker 1", 8)])

    def test_sixtySeconds(self) -> None:
        rates = RateHistory()
        for second in range(100):
            rates.sample(float(second), [serving("main", 1, second * 3)])
        self.assertEqual(rates.history(serving("main", 1, 0)), [3.0] * 60)


class DocumentTests(SynchronousTestCase):
    def test_answersByClass(self) -> None:
        self.assertEqual(
            answersByClass(figures(s200=3, s206=1, s304=2, s404=5, s505=1)),
            {"2xx": 4, "3xx": 2, "4xx": 5, "5xx": 1},
        )
        self.assertEqual(answersByClass(None), {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0})

    def test_totals(self) -> None:
        """
        Totals add the serving processes' figures (the lag: the worst; the
        chart: aligned on the latest second; the memory: every process's).
        """
        rates = RateHistory()
        one = ProcessStatus(
            "worker 1", True, "serving", 11, 0.0, 1, 9.5, figures(s200=4)
        )
        two = ProcessStatus("worker 2", True, "starting", 12, 8.0, 2, 8.0, None)
        for process in (one, two):
            process.figures and process.figures.update(  # type: ignore[func-returns-value]
                process={"lag": 0.25, "residentBytes": 1000}
            )
        main = ProcessStatus(
            "main", False, "serving", 10, 0.0,
            figures={"process": {"lag": 0.5, "residentBytes": 300}},
        )  # fmt: skip
        service = ServiceStatus(
            __version__, 10, "concurrent", "serving", True, 0.0, 2,
            [main, one, two], {"crashed": 1, "hung": 0},
        )  # fmt: skip
        document = statusDocument(service, rates, 10.0)
        self.assertEqual(
            statusDocument(service, rates, 10.12345)["uptimeSeconds"], 10.123
        )
        self.assertEqual(
            document["totals"],
            {
                "connectionsOpen": 2, "http2ConnectionsOpen": 0, "http3ConnectionsOpen": 0, "requestsInFlight": 0, "connectionsWaiting": 0,
                "requestsPerSecond": 0.0, "requestsPerSecondHistory": [],
                "answers": {"2xx": 4, "3xx": 0, "4xx": 0, "5xx": 0},
                "threadPoolBusy": None, "threadPoolQueued": None,
                "reactorLagSeconds": 0.25, "residentBytes": 1300,
            },
        )  # fmt: skip
        self.assertEqual(
            [(p["name"], p["role"], p["state"], p["uptimeSeconds"], p["secondsSinceReport"])
             for p in document["processes"]],
            [("main", "supervises", "serving", 10.0, None),
             ("worker 1", "serves", "serving", 10.0, 0.5),
             ("worker 2", "serves", "starting", 2.0, 2.0)],
        )  # fmt: skip
        self.assertEqual(document["processes"][0]["reactorLagSeconds"], 0.5)
        self.assertEqual(document["restarts"], {"crashed": 1, "hung": 0})


class OneProcessTests(SynchronousTestCase):
    def test_exactDocument(self) -> None:
        """
        One process with known counts: its C{/status.json}, field by field,
        with the rate its answers made over two sampled seconds.
        """
        service, clock = built("--admin", "tcp:0", "--sleep", "1")
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        answered = service.factory.counts.answered
        hello = counting.answerKind("/", b"200")
        # The fake clock jumps a second at a time: the lag timer, due every
        # 0.1 s, fires 0.9 s late.
        answered[hello] += 10
        answered[counting.answerKind("other", b"404")] += 2
        service.factory.counts.refused("malformed")
        clock.advance(1)
        answered[hello] += 20
        clock.advance(1)
        clock.advance(0.5)
        site = clock.tcpServers[-1][1]
        request = DummyRequest([b"status.json"])
        body = site.resource.children[b"status.json"].render_GET(request)
        self.assertEqual(
            request.responseHeaders.getRawHeaders(b"content-type"),
            [b"application/json"],
        )
        document = json.loads(body)
        self.maxDiff = None
        process = document["processes"][0]
        memory = process.pop("residentBytes")
        self.assertGreater(memory, 10_000_000)
        self.assertEqual(document["totals"].pop("residentBytes"), memory)
        self.assertEqual(
            document,
            {
                "version": __version__, "pid": os.getpid(), "mode": "concurrent",
                "state": "serving", "ready": True, "uptimeSeconds": 2.5, "workers": 1,
                "restarts": {},
                "refusals": dict(dict.fromkeys(counting.REFUSALS, 0), malformed=1),
                "totals": {
                    "connectionsOpen": 0, "http2ConnectionsOpen": 0, "http3ConnectionsOpen": 0, "requestsInFlight": 0, "connectionsWaiting": 0,
                    "requestsPerSecond": 16.0, "requestsPerSecondHistory": [12.0, 20.0],
                    "answers": {"2xx": 30, "3xx": 0, "4xx": 2, "5xx": 0},
                    "threadPoolBusy": None, "threadPoolQueued": None,
                    "reactorLagSeconds": 0.9,
                },
                "processes": [
                    {
                        "name": "main", "role": "serves", "slot": None,
                        "pid": os.getpid(), "state": "serving", "uptimeSeconds": 2.5,
                        "secondsSinceReport": None,
                        "connectionsOpen": 0, "http2ConnectionsOpen": 0, "http3ConnectionsOpen": 0, "requestsInFlight": 0,
                        "connectionsWaiting": 0, "requestsPerSecond": 16.0,
                        "requestsPerSecondHistory": [12.0, 20.0],
                        "answers": {"2xx": 30, "3xx": 0, "4xx": 2, "5xx": 0},
                        "threadPoolBusy": None, "threadPoolQueued": None,
                        "reactorLagSeconds": 0.9,
                        "requestsAnswered": 32, "connectionsAccepted": 0,
                        "requestShare": 1.0, "connectionShare": None,
                    }
                ],
            },
        )  # fmt: skip

    def test_drainingAndParallel(self) -> None:
        """
        With --parallel, the pool's figures are there; once told to stop,
        the service is draining and not ready.
        """
        service, clock = built("--admin", "tcp:0", "--parallel", "--threads", "3")
        service.privilegedStartService()
        service.startService()
        document = service.operations.admin.status.document()  # type: ignore[union-attr]
        self.assertEqual(
            (document["mode"], document["totals"]["threadPoolBusy"],
             document["totals"]["threadPoolQueued"]),
            ("parallel", 0, 0),
        )  # fmt: skip
        service.stopService()
        document = service.operations.admin.status.document()  # type: ignore[union-attr]
        self.assertEqual((document["state"], document["ready"]), ("draining", False))
        clock.advance(60)

    def test_pageHeaders(self) -> None:
        """
        The page is one HTML file that fetches nothing but its figures.
        """
        service, clock = built("--admin", "tcp:0")
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        request = DummyRequest([b"status"])
        site = clock.tcpServers[-1][1]
        page = site.resource.children[b"status"].render_GET(request)
        headers = dict(request.responseHeaders.getAllRawHeaders())
        self.assertEqual(headers[b"Content-Type"], [b"text/html; charset=utf-8"])
        self.assertIn(b"connect-src 'self'", headers[b"Content-Security-Policy"][0])
        self.assertIn(b'fetch("status.json"', page)
        self.assertNotRegex(page.decode(), r'(src|href)="(https?:)?//')


class WorkersTests(SynchronousTestCase):
    def test_everyState(self) -> None:
        """
        Each worker's row says where it is: serving while it reports, not
        reporting after 2.5 s of silence, hung once killed for it, and a
        replacement starting; restarts by cause.
        """
        made, reactor = supervisor(self, 2, "--worker-timeout", "5")
        recorder = StatusRecorder(made.reports.status, reactor)
        recorder.start()
        self.addCleanup(recorder.stop)
        talking, quiet = reactor.spawned
        ready(talking, quiet)

        def states() -> list[tuple[str, int | None, str]]:
            return [
                (p["name"], p["pid"], p["state"])
                for p in recorder.document()["processes"]
            ]

        for second in range(1, 7):
            reactor.advance(1)
            talking.say(hello_metrics=figures(s200=100 * second))
            if second == 2:
                self.assertEqual(
                    states(),
                    [("main", os.getpid(), "serving"),
                     ("worker 1", talking.pid, "serving"),
                     ("worker 2", quiet.pid, "serving")],
                )  # fmt: skip
            if second == 3:
                self.assertEqual(states()[2][2], "not reporting")
        self.assertEqual(states()[2][2], "hung, being replaced")
        self.assertFalse(recorder.document()["ready"])
        reactor.advance(1)
        self.assertEqual(quiet.signals, [signal.SIGUSR2, signal.SIGCONT, "KILL"])
        quiet.say(hello_metrics=figures(s200=5, s500=1))
        quiet.end(signal=9)
        reactor.advance(0)
        document = recorder.document()
        # The answers of the worker that ended still count, as in /metrics.
        self.assertEqual(
            document["totals"]["answers"], {"2xx": 605, "3xx": 0, "4xx": 0, "5xx": 1}
        )
        self.assertEqual(states()[2], ("worker 2", reactor.spawned[2].pid, "starting"))
        self.assertEqual(document["restarts"], {"crashed": 0, "hung": 1, "recycled": 0})
        self.assertEqual(document["processes"][1]["requestsPerSecond"], 100.0)
        self.assertEqual(document["workers"], 2)


class ShareTests(SynchronousTestCase):
    def test_eachWorkersShare(self) -> None:
        """
        Each serving process's row gives its share of the requests answered
        and of the connections accepted; the supervising process has none.
        """
        one, two = serving("worker 1", 11, 30), serving("worker 2", 12, 10)
        assert one.figures is not None and two.figures is not None
        one.figures["connections"], two.figures["connections"] = 3, 1
        main = ProcessStatus("main", False, "serving", 10, 0.0)
        service = ServiceStatus(
            __version__, 10, "concurrent", "serving", True, 0.0, 2, [main, one, two]
        )
        rows = statusDocument(service, RateHistory(), 1.0)["processes"]
        self.assertEqual(
            [(r.get("requestShare"), r.get("connectionShare")) for r in rows],
            [(None, None), (0.75, 0.75), (0.25, 0.25)],
        )
