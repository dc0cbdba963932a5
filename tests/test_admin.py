"""
Tests for L{hello_service.admin} in memory: the Prometheus collector.  The
admin site over real TCP is in C{tests.system.test_admin}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from hello_service import counting
from hello_service.admin import HelloCollector
from hello_service.counting import RequestCounts


class CollectorTests(SynchronousTestCase):
    def test_exposition(self) -> None:
        """
        The collector turns a snapshot into Prometheus families: answers
        that did not wait fall in the first bucket.
        """
        counts = RequestCounts()
        sleep = counting.answerKind("/sleep", b"200")
        counts.answered[sleep] += 4
        counts.observeWait(5.0, sleep)
        families = {
            family.name: family
            for family in HelloCollector(
                counts.snapshot, lambda: {"crashed": 2, "hung": 1}
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
