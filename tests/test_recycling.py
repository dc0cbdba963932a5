"""
Worker recycling's rule (L{hello_service.configuration.recycling}) and the supervisor
acting on it with fake workers: a worker past its bound is replaced the
way a rolling restart replaces it, one at a time, and counted.
"""

from __future__ import annotations

from random import Random

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from hello_service.configuration.recycling import (
    RecyclePolicy,
    Recycler,
    autoMemory,
    parseSize,
)
from hello_service.http import counting
from hello_service.processes.supervisor import Phase, Supervisor

from .support.doubles import FakeProcess, ProcessReactor
from .test_supervisor import ready, supervisor

MiB = 2**20


def answered(process: FakeProcess, count: int, resident: int = 50 * MiB) -> None:
    """
    The worker reports that it has answered C{count} requests.
    """
    counts = counting.RequestCounts()
    counts.answered[counting.answerKind("/", b"200")] = count
    figures = counts.figures()
    figures["process"] = {"residentBytes": resident}
    process.say(hello_metrics=figures)


class RuleTests(SynchronousTestCase):
    def test_sizes(self) -> None:
        self.assertEqual(parseSize("512M"), 512 * MiB)
        self.assertEqual(parseSize("512MiB"), 512 * MiB)
        self.assertEqual(parseSize("1g"), 1024 * MiB)
        self.assertEqual(parseSize("1.5G"), 1536 * MiB)
        self.assertEqual(parseSize("2097152"), 2 * MiB)
        for bad in ("", "lots", "-1M", "512X", "100K", "1 2M"):
            with self.assertRaises(ValueError, msg=bad):
                parseSize(bad)

    def test_auto(self) -> None:
        """
        C{auto}: 80% of the cgroup's limit shared by the workers; nothing
        without a limit.
        """
        self.assertEqual(autoMemory(2, 1000 * MiB), 400 * MiB)
        self.assertEqual(autoMemory(4, None), 0)

    def test_jitterPerWorker(self) -> None:
        policy = RecyclePolicy(maxRequests=100, jitter=10)
        random = Random(1)
        limits = {policy.requestLimit(random) for _ in range(200)}
        self.assertEqual(min(limits), 100)
        self.assertEqual(max(limits), 110)
        self.assertEqual(RecyclePolicy(maxRequests=100).requestLimit(random), 100)
        self.assertEqual(RecyclePolicy().requestLimit(random), 0)

    def test_due(self) -> None:
        policy = RecyclePolicy(maxRequests=100, maxMemory=200 * MiB)
        self.assertIsNone(policy.due(99, 200 * MiB, 100))
        self.assertEqual(
            policy.due(100, 10 * MiB, 100), "it answered 100 requests (its bound: 100)"
        )
        self.assertEqual(
            policy.due(5, 201 * MiB, 100),
            "its resident memory, 201 MiB, is over --max-worker-memory 200 MiB",
        )
        self.assertIsNone(RecyclePolicy().due(10**9, 10**12, 0))

    def test_oneProcessRefused(self) -> None:
        """
        Recycling needs workers: with one process, a one-line error.
        """
        from twisted.internet.testing import MemoryReactor

        from hello_service.tap import Options

        for arguments in (["--max-requests", "10"], ["--max-worker-memory", "auto"]):
            with self.assertRaises(UsageError) as raised:
                Options(reactor=MemoryReactor(), environ={}).parseOptions(arguments)
            self.assertIn("--workers 2 or more", str(raised.exception))


class _Reporting:
    def __init__(self, answered: int) -> None:
        self.figures = {"kinds": [["GET", "200", answered]]}
        self.requestLimit = 10


class RecyclerTests(SynchronousTestCase):
    """
    The L{Recycler} alone: one replacement at a time, the first worker due.
    """

    def setUp(self) -> None:
        self.started: list[tuple[int, str]] = []
        self.replacing: Deferred[None] = Deferred()

        async def recycle(slot: int, why: str) -> None:
            self.started.append((slot, why))
            await self.replacing

        self.recycler = Recycler(RecyclePolicy(maxRequests=10), recycle)
        self.workers = [(1, _Reporting(3)), (2, _Reporting(12)), (3, _Reporting(15))]

    def test_oneAtATime(self) -> None:
        """
        The first worker past its bound is replaced; while it is, no other
        starts; once it is done, the next check starts the next.
        """
        self.recycler.check(self.workers)
        self.recycler.check(self.workers)
        self.assertEqual(self.started, [(2, "it answered 12 requests (its bound: 10)")])
        waited = ensureDeferred(self.recycler.finished())
        self.assertNoResult(waited)
        self.replacing.callback(None)
        self.successResultOf(waited)
        self.replacing = Deferred()
        self.recycler.check(self.workers[2:])
        self.assertEqual([slot for slot, _ in self.started], [2, 3])

    def test_inactivePolicy(self) -> None:
        """
        Without a bound, nothing is recycled; L{Recycler.finished} has
        nothing to wait for.
        """
        recycler = Recycler(RecyclePolicy(), self.fail)  # type: ignore[arg-type]
        recycler.check(self.workers)
        self.successResultOf(ensureDeferred(recycler.finished()))


class SupervisorRecyclingTests(SynchronousTestCase):
    def firstPastItsBound(
        self,
    ) -> tuple[Supervisor, ProcessReactor, FakeProcess, FakeProcess]:
        """
        Two workers serving under C{--max-requests 10}; the first has
        answered 10 and the supervisor has looked: its recycling began.
        """
        made, reactor = supervisor(self, 2, "--max-requests", "10")
        first, second = reactor.spawned
        ready(first, second)
        answered(first, 10)
        reactor.advance(1)
        return made, reactor, first, second

    def test_recycledLikeARollingRestart(self) -> None:
        """
        A worker past its bound: a new one starts, and the old one retires
        only once the new one serves; the replacement counts as recycled.
        """
        made, reactor = supervisor(self, 2, "--max-requests", "100")
        first, second = reactor.spawned
        ready(first, second)
        answered(first, 99)
        reactor.advance(1)
        self.assertEqual(len(reactor.spawned), 2)
        answered(first, 100)
        reactor.advance(1)
        self.assertEqual(len(reactor.spawned), 3)
        new = reactor.spawned[2]
        self.assertEqual(first.signals, [])
        self.assertTrue(made.operations.readiness.ready)
        ready(new)
        self.assertEqual(first.signals, ["TERM"])
        self.assertIs(made.current[1].transport, new)  # type: ignore[attr-defined]
        first.end()
        self.assertEqual(made.restarts["recycled"], 1)
        self.assertEqual(made.phase, Phase.SERVING)
        self.assertTrue(made.operations.readiness.ready)

    def test_oneAtATime(self) -> None:
        """
        Both workers past their bounds: the second is recycled only once
        the first's replacement serves.
        """
        made, reactor = supervisor(self, 2, "--max-requests", "10")
        first, second = reactor.spawned
        ready(first, second)
        answered(first, 50)
        answered(second, 50)
        reactor.advance(1)
        reactor.advance(1)
        reactor.advance(1)
        self.assertEqual(len(reactor.spawned), 3)
        ready(reactor.spawned[2])
        reactor.advance(1)
        self.assertEqual(len(reactor.spawned), 4)
        self.assertEqual(second.signals, [])
        ready(reactor.spawned[3])
        self.assertEqual(second.signals, ["TERM"])
        self.assertEqual(made.restarts["recycled"], 2)

    def test_memoryBound(self) -> None:
        made, reactor = supervisor(self, 2, "--max-worker-memory", "100M")
        first, second = reactor.spawned
        ready(first, second)
        answered(second, 1, resident=99 * MiB)
        reactor.advance(1)
        self.assertEqual(len(reactor.spawned), 2)
        answered(second, 1, resident=101 * MiB)
        reactor.advance(1)
        self.assertEqual(len(reactor.spawned), 3)
        self.assertEqual(
            reactor.spawned[2].arguments[
                reactor.spawned[2].arguments.index("--slot") + 1
            ],
            "2",
        )

    def test_newWorkerFailsOldOneServesOn(self) -> None:
        """
        A replacement that cannot start: the old worker keeps its slot, the
        service stays ready, nothing counts as recycled.
        """
        made, reactor, first, second = self.firstPastItsBound()
        reactor.spawned[2].end(exitCode=3)
        self.assertEqual(first.signals, [])
        self.assertIs(made.current[1].transport, first)  # type: ignore[attr-defined]
        self.assertEqual(made.restarts["recycled"], 0)
        self.assertTrue(made.operations.readiness.ready)
        self.assertIsNot(made.phase, Phase.GAVE_UP)

    def test_rollingRestartWaitsForTheRecycling(self) -> None:
        """
        SIGHUP while a worker is recycled: the restart starts once the
        recycling is done, and replaces every worker.
        """
        made, reactor, first, second = self.firstPastItsBound()
        made.rollingRestart()
        self.assertEqual(len(reactor.spawned), 3)  # only the recycling's
        ready(reactor.spawned[2])
        self.assertEqual(made.phase, Phase.RESTARTING)
        self.assertEqual(len(reactor.spawned), 4)
        ready(reactor.spawned[3])
        ready(reactor.spawned[4])
        self.assertEqual(made.phase, Phase.SERVING)
        self.assertEqual(second.signals, ["TERM"])
