"""
Tests for L{hello_service.http.counting}: the figures the request path keeps as
plain numbers, and how the reports of several workers add up.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from hello_service.http import counting
from hello_service.http.counting import RequestCounts, addFigures


class AddingFiguresTests(SynchronousTestCase):
    def test_sumAcrossWorkers(self) -> None:
        """
        Figures add up: counters and histogram buckets by key, gauges too.
        """
        one, two = RequestCounts(), RequestCounts()
        ok = counting.answerKind("/", b"200")
        one.answered[ok] += 2
        two.answered[ok] += 3
        two.observeWait(0.3, ok)
        total = addFigures(
            [
                one.figures(hello_connections_open=1),
                two.figures(hello_connections_open=4),
            ]
        )
        [(label, status, answered, waited, seconds)] = total["kinds"]
        self.assertEqual((label, status, answered, sum(waited)), ("/", "200", 5, 1))
        self.assertEqual(seconds, 0.3)
        self.assertEqual(total["gauges"], {"hello_connections_open": 5})

    def test_everyKindKnownAtStart(self) -> None:
        """
        The answer kinds are a fixed table: every route label with every
        status the service answers, and an unknown one is refused.
        """
        self.assertEqual(len(counting.ANSWER_KINDS), 3 * 15)
        self.assertEqual(
            counting.ANSWER_KINDS[counting.answerKind("/", b"200 OK")], ("/", b"200")
        )
        with self.assertRaises(ValueError):
            counting.answerKind("/", b"299")

    def test_kindsAddUpApart(self) -> None:
        """
        Different kinds stay apart when reports add up, and each has one
        bucket per bound and one for longer.
        """
        one, two = RequestCounts(), RequestCounts()
        ok, missing = (
            counting.answerKind("/", b"200"),
            counting.answerKind("other", b"404"),
        )
        one.answered[ok] += 1
        two.answered[missing] += 2
        two.observeWait(100.0, missing)
        total = addFigures([one.figures(), two.figures()])
        self.assertEqual(
            sorted((k[0], k[1], k[2], k[3][-1]) for k in total["kinds"]),
            [("/", "200", 1, 0), ("other", "404", 2, 1)],
        )
        for kind in total["kinds"]:
            self.assertEqual(len(kind[3]), len(counting.DURATION_BUCKETS) + 1)

    def test_waitedSecondsAddUp(self) -> None:
        """
        The seconds answers waited add up across reports.
        """
        one, two = RequestCounts(), RequestCounts()
        sleep = counting.answerKind("/sleep", b"200")
        for counts in (one, two):
            counts.answered[sleep] += 1
            counts.observeWait(1.5, sleep)
        [kind] = addFigures([one.figures(), two.figures()])["kinds"]
        self.assertEqual(kind[4], 3.0)


class GaugeTableTests(SynchronousTestCase):
    def test_oneTable(self) -> None:
        """
        The help table names exactly the gauges the typed record carries, and
        those that exist only with a thread pool are among them.
        """
        from hello_service.http.counting import GAUGE_HELP, POOL_GAUGES, Gauges

        self.assertEqual(set(GAUGE_HELP), set(Gauges.__annotations__))
        self.assertLessEqual(POOL_GAUGES, set(GAUGE_HELP))
