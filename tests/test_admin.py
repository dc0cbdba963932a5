"""
Tests for L{hello_service.operations.admin} in memory: the Prometheus collector.  The
admin site over real TCP is in C{tests.system.test_admin}.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from hello_service import __version__
from hello_service.http import counting
from hello_service.http.counting import RequestCounts
from hello_service.operations.admin import HelloCollector


class CollectorTests(SynchronousTestCase):
    def test_exposition(self) -> None:
        """
        The collector turns a figures into Prometheus families: answers
        that did not wait fall in the first bucket.
        """
        counts = RequestCounts()
        sleep = counting.answerKind("/sleep", b"200")
        counts.answered[sleep] += 4
        counts.observeWait(5.0, sleep)
        families = {
            family.name: family
            for family in HelloCollector(
                counts.figures, lambda: True, lambda: {"crashed": 2, "hung": 1}
            ).collect()
        }
        histogram = {
            (s.name, s.labels.get("le")): s.value
            for s in families["hello_request_duration_seconds"].samples
            if s.labels["route"] == "/sleep"
        }
        self.assertEqual(histogram["hello_request_duration_seconds_bucket", "0.001"], 3)
        self.assertEqual(histogram["hello_request_duration_seconds_bucket", "5.0"], 4)
        self.assertEqual(histogram["hello_request_duration_seconds_count", None], 4)
        self.assertEqual(
            {
                s.labels["cause"]: s.value
                for s in families["hello_worker_restarts"].samples
                if s.name == "hello_worker_restarts_total"
            },
            {"crashed": 2, "hung": 1},
        )


def exposition(
    figures: dict[str, Any], ready: bool = True, restarts: dict[str, int] | None = None
) -> str:
    """
    The text C{/metrics} answers for C{figures}.
    """
    registry = CollectorRegistry()
    registry.register(
        HelloCollector(lambda: figures, lambda: ready, lambda: restarts or {})
    )
    return generate_latest(registry).decode()


def samples(text: str, name: str) -> dict[str, float]:
    """
    The samples of C{name} in an exposition, by their labels as written.
    """
    return {
        labels: float(value)
        for labels, value in re.findall(
            rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE
        )
    }


class SeriesTests(SynchronousTestCase):
    """
    Every series exists from the first scrape, and the figures each process
    reports come out under names an operator can alert on.
    """

    def test_zeroFromTheStart(self) -> None:
        """
        Before any request: every route and status the service can answer
        is there at zero for every protocol (the 5xx ones too), every
        route's histogram, the
        gauges, the build and readiness.
        """
        text = exposition(RequestCounts().figures())
        answered = samples(text, "hello_requests_total")
        self.assertEqual(len(answered), 3 * len(counting.ANSWER_KINDS))
        self.assertEqual(set(answered.values()), {0.0})
        for route in ["/", "/sleep", "other"]:
            for protocol in ["HTTP/1.1", "HTTP/2", "HTTP/3"]:
                self.assertIn(
                    f'{{protocol="{protocol}",route="{route}",status="500"}}', answered
                )
            self.assertEqual(
                samples(text, "hello_request_duration_seconds_count")[
                    f'{{route="{route}"}}'
                ],
                0,
            )
        for gauge in [
            "hello_connections_open",
            "hello_requests_in_flight",
            "hello_connections_waiting",
        ]:
            self.assertEqual(samples(text, gauge), {"": 0.0}, gauge)
        self.assertEqual(samples(text, "hello_threadpool_busy"), {})
        self.assertEqual(
            samples(text, "hello_build_info"), {f'{{version="{__version__}"}}': 1.0}
        )
        self.assertEqual(samples(text, "hello_ready"), {"": 1.0})
        self.assertEqual(
            samples(exposition(RequestCounts().figures(), False), "hello_ready"),
            {"": 0.0},
        )
        self.assertEqual(
            samples(text, "hello_reactor_lag_seconds"), {'{process="main"}': 0.0}
        )

    def test_workers(self) -> None:
        """
        With workers: each one's reactor lag, memory, CPU time and
        descriptors, labelled by its slot, in slot order.
        """
        figures = RequestCounts().figures()
        figures["process"] = {"lag": 0.002}
        worker = {"lag": 0.25, "residentBytes": 30e6, "cpuSeconds": 1.5}
        figures["workers"] = {
            "10": dict(worker, openDescriptors=12),
            "2": dict(worker, openDescriptors=None),
        }
        text = exposition(figures)
        self.assertEqual(
            list(samples(text, "hello_reactor_lag_seconds").items()),
            [
                ('{process="main"}', 0.002),
                ('{process="worker-2"}', 0.25),
                ('{process="worker-10"}', 0.25),
            ],
        )
        self.assertEqual(
            samples(text, "hello_worker_resident_memory_bytes"),
            {'{worker="2"}': 30e6, '{worker="10"}': 30e6},
        )
        self.assertEqual(
            samples(text, "hello_worker_cpu_seconds_total"),
            {'{worker="2"}': 1.5, '{worker="10"}': 1.5},
        )
        # A figure the system does not tell is left out, not made zero.
        self.assertEqual(
            samples(text, "hello_worker_open_fds"), {'{worker="10"}': 12.0}
        )

    def test_lint(self) -> None:
        """
        C{promtool check metrics} finds nothing wrong with the exposition.
        """
        promtool = shutil.which("promtool")
        if promtool is None:
            raise SkipTest("promtool is missing (Debian: prometheus)")
        figures = RequestCounts().figures(hello_threadpool_busy=1)
        figures["workers"] = {"1": {"lag": 0.0, "residentBytes": 1, "cpuSeconds": 1}}
        checked = subprocess.run(
            [promtool, "check", "metrics"],
            input=exposition(figures),
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual((checked.returncode, checked.stdout + checked.stderr), (0, ""))
