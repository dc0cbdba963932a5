"""
Tests for L{hello_service.processes.supervisor} in memory: its policy (when a worker
counts as ready, is replaced, backed off, given up on, and what readiness
and the counters say meanwhile) with a fake clock and fake processes.  The
supervisor with real worker processes is tested in
C{tests.system.test_workers}.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from twisted.internet.testing import MemoryReactor
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from hello_service.http import counting
from hello_service.processes.handoff import STACKS_SIGNAL
from hello_service.processes.hangwatch import STACKS_GRACE
from hello_service.processes.supervisor import Phase, Supervisor
from hello_service.tap import Options

from .support.doubles import FakeProcess, ProcessReactor
from .test_admin import exposition, samples


def supervisor(
    test: SynchronousTestCase, workers: int = 2, *arguments: str
) -> tuple[Supervisor, ProcessReactor]:
    """
    A supervisor of C{workers} fake workers, serving no socket, started.
    """
    options = Options(reactor=MemoryReactor(), environ={})
    options.parseOptions(["--workers", str(workers), *arguments])
    assert options.config is not None
    reactor = ProcessReactor()
    config = options.config
    from dataclasses import replace

    made = Supervisor(replace(config, endpoints=()), reactor)
    failures: list[bool] = []
    made.exitWithFailure = lambda: failures.append(True)  # type: ignore[method-assign]
    test.failures = failures  # type: ignore[attr-defined]
    for number in (signal.SIGHUP, signal.SIGUSR1):
        test.addCleanup(signal.signal, number, signal.getsignal(number))
    made.startService()
    return made, reactor


def ready(*processes: FakeProcess) -> None:
    for process in processes:
        process.say(hello_worker_ready=True)


class ReadinessTests(SynchronousTestCase):
    """
    The service is ready only while every slot has a worker that serves.
    """

    def test_readyWhenEveryWorkerIs(self) -> None:
        """
        The service is ready (C{/ready} 200) only once every worker said it
        serves.
        """
        made, reactor = supervisor(self)
        first, second = reactor.spawned
        self.assertEqual(
            (made.phase, made.operations.readiness.ready), (Phase.STARTING, False)
        )
        ready(first)
        self.assertFalse(made.operations.readiness.ready)
        ready(second)
        self.assertEqual(
            (made.phase, made.operations.readiness.ready), (Phase.SERVING, True)
        )
        self.assertEqual(
            [p.arguments[p.arguments.index("--slot") + 1] for p in reactor.spawned],
            ["1", "2"],
        )

    def test_ordinaryEventIsNotReadiness(self) -> None:
        """
        A starting worker's ordinary log event does not make it ready.
        """
        made, reactor = supervisor(self)
        first, second = reactor.spawned
        first.say(log_format="starting")
        ready(second)
        self.assertEqual(
            (first.protocol.started, made.operations.readiness.ready), (False, False)
        )


class ReplacementTests(SynchronousTestCase):
    """
    A worker that served and died is replaced, after a backoff; a crash loop ends the service.
    """

    def test_crashedWorkerReplacedWithBackoff(self) -> None:
        """
        A worker that dies is replaced at once the first time, then after
        0.5 s, 1 s...; each replacement counts as a restart.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        reactor.spawned[0].end(signal=9)
        self.assertEqual(len(reactor.spawned), 2)
        reactor.advance(0)
        self.assertEqual((len(reactor.spawned), made.restarts["crashed"]), (3, 1))
        self.assertFalse(
            made.operations.readiness.ready
        )  # slot 1 has no worker serving
        ready(reactor.spawned[2])
        self.assertTrue(made.operations.readiness.ready)
        reactor.spawned[2].end(exitCode=1)
        self.assertFalse(made.operations.readiness.ready)  # from the moment it dies
        reactor.advance(0.49)
        self.assertEqual(len(reactor.spawned), 3)
        self.assertNotIn(1, made.current)  # the backoff: slot 1 has no worker
        self.assertFalse(made.operations.readiness.ready)
        self.assertFalse(made.reports.status().ready)  # and the status page
        reactor.advance(0.01)
        self.assertEqual((len(reactor.spawned), made.restarts["crashed"]), (4, 2))
        self.assertEqual(made.current[1], reactor.spawned[3].protocol)
        self.assertFalse(
            made.operations.readiness.ready
        )  # until the replacement serves
        ready(reactor.spawned[3])
        self.assertTrue(made.operations.readiness.ready)

    def test_crashLoopGivesUp(self) -> None:
        """
        Five deaths within a minute end the service with a failure: not
        ready, nothing more started, the reactor stopped.
        """
        made, reactor = supervisor(self, workers=1)
        for _ in range(5):
            ready(reactor.spawned[-1])
            reactor.spawned[-1].end(exitCode=1)
            reactor.advance(10)
        self.assertEqual(made.phase, Phase.GAVE_UP)
        self.assertFalse(made.operations.readiness.ready)
        self.assertTrue(reactor.stopped)
        self.assertEqual(self.failures, [True])  # type: ignore[attr-defined]
        self.assertEqual(len(reactor.spawned), 5)

    def test_oldFailuresForgotten(self) -> None:
        """
        Deaths more than a minute apart never add up to a crash loop.
        """
        made, reactor = supervisor(self, workers=1)
        for _ in range(10):
            ready(reactor.spawned[-1])
            reactor.spawned[-1].end(exitCode=1)
            reactor.advance(61)
        self.assertIsNot(made.phase, Phase.GAVE_UP)
        self.assertEqual(made.restarts, {"crashed": 10, "hung": 0, "recycled": 0})

    def test_backoffAndWindowEdge(self) -> None:
        """
        Replacements back off 0, 0.5, 1 and 2 s; five deaths in exactly the
        60 s window, late in the process's life, are a crash loop.
        """
        made, reactor = supervisor(self, 1)
        reactor.advance(1000)
        ready(*reactor.spawned)
        with capturedLogs() as events:
            for _ in range(5):
                ready(reactor.spawned[-1])
                reactor.spawned[-1].end(exitCode=1)
                reactor.advance(15)
        delays = [
            line.rsplit(" in ", 1)[1]
            for line in lines(events)
            if "starting a new one" in line
        ]
        self.assertEqual(delays, ["0.0 s", "0.5 s", "1.0 s", "2.0 s"])
        self.assertEqual(made.phase, Phase.GAVE_UP)
        self.assertIn(
            "hello: workers died 5 times within 60 s; giving up", lines(events)
        )

    def test_noReplacementOnceStopping(self) -> None:
        """
        A replacement due after a backoff is not started once the service
        stops.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        reactor.spawned[0].end(signal=9)
        reactor.advance(0)
        reactor.spawned[2].end(signal=9)  # the second death: 0.5 s backoff
        made.stopService()
        reactor.advance(1)
        self.assertEqual(len(reactor.spawned), 3)

    def test_otherEndings(self) -> None:
        """
        An end that is neither an exit nor a signal is still described.
        """
        from twisted.python.failure import Failure

        from hello_service.processes.crashes import describeExit

        class Odd(Exception):
            status = 5

        self.assertEqual(describeExit(Failure(Odd())), "ended (5)")

    def test_earlyDeathLeavesNoUnhandledError(self) -> None:
        """
        A worker that dies before serving leaves no unhandled error behind.
        """
        made, reactor = supervisor(self)
        reactor.spawned[0].end(signal=9)
        self.assertIsNone(self.successResultOf(reactor.spawned[0].protocol.ready))


class StartFailureTests(SynchronousTestCase):
    """
    A worker that cannot start ends the start, saying why in its own words.
    """

    def test_workerThatCannotStartStopsEverything(self) -> None:
        """
        A worker that exits with the boot-error status before serving stops
        the service at once, with its reason in one line: no restart.
        """
        made, reactor = supervisor(self)
        failing, other = reactor.spawned
        with capturedLogs() as events:
            failing.protocol.childDataReceived(
                2, b"Traceback (most recent call last):\n  File ...\n"
            )
            failing.protocol.childDataReceived(2, b"page not found: /x/hello.html\n")
            failing.end(exitCode=3)
        self.assertEqual(made.phase, Phase.GAVE_UP)
        self.assertTrue(reactor.stopped)
        self.assertEqual(self.failures, [True])  # type: ignore[attr-defined]
        self.assertEqual(other.signals, ["TERM"])
        reactor.advance(10)
        self.assertEqual(len(reactor.spawned), 2)
        critical = [formatEvent(e) for e in events if e["log_level"].name == "critical"]
        self.assertEqual(
            critical,
            ["hello: worker 1 could not start: page not found: /x/hello.html"],
        )

    def test_lastWordsAreRead(self) -> None:
        """
        What a worker wrote without a final newline before it ended is still
        read: its last event and its last error line.
        """
        made, reactor = supervisor(self)
        worker = reactor.spawned[0]
        worker.protocol.childDataReceived(2, b"cannot go on")
        worker.protocol.childDataReceived(
            1,
            b"\x1e"
            + b'{"log_format": "bye", "log_namespace": "w", "log_level": {"__class_uuid__": "02E59486-F24D-46AD-8224-3ACDF2A5732A", "name": "info"}, "log_time": 0}',
        )
        with capturedLogs() as events:
            worker.end(exitCode=1)
        self.assertEqual(worker.protocol.lastError, "cannot go on")
        self.assertIn("bye", lines(events))

    def test_bootErrorWithoutWords(self) -> None:
        """
        A worker that cannot start and says nothing is described by how it
        ended.
        """
        made, reactor = supervisor(self)
        with capturedLogs() as events:
            reactor.spawned[0].end(exitCode=3)
        self.assertIn(
            "hello: worker 1 could not start: exited with status 3", lines(events)
        )


class RollingRestartTests(SynchronousTestCase):
    """
    SIGHUP replaces every worker, one at a time, the new one serving first.
    """

    def test_rollingRestart(self) -> None:
        """
        SIGHUP's restart starts each slot's new worker and retires the old
        one only once the new one serves; restarts count only deaths.
        """
        made, reactor = supervisor(self)
        old = list(reactor.spawned)
        ready(*old)
        made.rollingRestart()
        self.assertEqual(made.phase, Phase.RESTARTING)
        self.assertEqual(len(reactor.spawned), 3)
        self.assertEqual(old[0].signals, [])
        ready(reactor.spawned[2])
        self.assertEqual(old[0].signals, ["TERM"])
        old[0].end()
        ready(reactor.spawned[3])
        self.assertEqual(old[1].signals, ["TERM"])
        old[1].end()
        self.assertEqual(made.phase, Phase.SERVING)
        self.assertEqual(made.restarts, {"crashed": 0, "hung": 0, "recycled": 0})
        self.assertTrue(made.operations.readiness.ready)

    def test_rollingRestartLines(self) -> None:
        """
        A rolling restart says its start and its end with the new PIDs, and
        starts each new worker in its slot.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        with capturedLogs() as events:
            made.rollingRestart()
            ready(reactor.spawned[2])
            ready(reactor.spawned[3])
        self.assertIn("rolling restart of 2 workers", lines(events))
        self.assertIn("rolling restart done: workers 1003, 1004", lines(events))
        slots = [
            p.arguments[p.arguments.index("--slot") + 1] for p in reactor.spawned[2:]
        ]
        self.assertEqual(slots, ["1", "2"])

    def test_failedRestartSaysWhy(self) -> None:
        """
        The line of a restart stopped by a new worker's death says how it
        died.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        with capturedLogs() as events:
            made.rollingRestart()
            reactor.spawned[2].end(exitCode=7)
        [line] = [
            line for line in lines(events) if line.startswith("rolling restart stopped")
        ]
        self.assertIn("exit code 7", line)

    def test_retiredWorkerSaysItExited(self) -> None:
        """
        A worker replaced by a rolling restart is said to have exited, and
        is not replaced again.
        """
        made, reactor = supervisor(self)
        old = list(reactor.spawned)
        ready(*old)
        made.rollingRestart()
        ready(reactor.spawned[2])
        with capturedLogs() as events:
            old[0].end(signal=15)
        self.assertIn(
            "worker 1 (pid 1001) killed by signal 15 (SIGTERM)", lines(events)
        )
        reactor.advance(10)
        self.assertEqual(len(reactor.spawned), 4)
        self.assertEqual(made.restarts, {"crashed": 0, "hung": 0, "recycled": 0})


class StopTests(SynchronousTestCase):
    """
    Stopping retires every worker and replaces none; stragglers are killed after their drain.
    """

    def test_stopRetiresEveryWorkerAndReplacesNone(self) -> None:
        """
        Stopping turns readiness off, sends every worker SIGTERM, and a
        worker that then ends is not replaced.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        stopped = made.stopService()
        self.assertEqual(
            (made.phase, made.operations.readiness.ready), (Phase.STOPPING, False)
        )
        for process in reactor.spawned:
            self.assertEqual(process.signals, ["TERM"])
            process.end()
        reactor.advance(1)
        self.assertEqual(len(reactor.spawned), 2)
        self.assertIsNone(self.successResultOf(stopped))

    def test_stragglersKilledOnlyAfterTheirDrain(self) -> None:
        """
        A worker is killed only once the shutdown timeout and 5 s have
        passed; a worker killed while stopping is said to have been.
        """
        made, reactor = supervisor(self, 2, "--shutdown-timeout", "1")
        ready(*reactor.spawned)
        with capturedLogs() as events:
            stopped = made.stopService()
            reactor.advance(5.9)
            self.assertEqual(reactor.spawned[1].signals, ["TERM"])
            reactor.advance(0.2)
            reactor.spawned[0].end()
            reactor.spawned[1].end(signal=9)
        self.assertIn("stopping 2 workers", lines(events))
        self.assertIn("worker 2 (pid 1002) killed by signal 9 (SIGKILL)", lines(events))
        self.successResultOf(stopped)


class HangTests(SynchronousTestCase):
    """
    A worker silent past its bound is found, asked for its stacks, killed and replaced.
    """

    def test_hungWorkerKilledAndReplaced(self) -> None:
        """
        A serving worker that reports nothing for the worker timeout is
        killed, said to have hung, and replaced; C{/metrics} counts it as
        hung.  One that reports goes on.
        """
        made, reactor = supervisor(self, 2, "--worker-timeout", "3")
        quiet, talking = reactor.spawned
        ready(quiet, talking)
        with capturedLogs() as events:
            for _ in range(3):
                reactor.advance(1)
                talking.say(hello_metrics=counting.RequestCounts().figures())
            self.assertEqual(quiet.signals, [])
            reactor.advance(1)
            talking.say(hello_metrics=counting.RequestCounts().figures())
        self.assertEqual(
            (quiet.signals, talking.signals), ([STACKS_SIGNAL, signal.SIGCONT], [])
        )
        self.assertIn(
            f"worker 1 (pid {quiet.pid}) hung: nothing heard from it for 4.0 s; killing it",
            [formatEvent(e) for e in events],
        )
        self.assertFalse(
            made.operations.readiness.ready
        )  # slot 1 has no worker serving
        reactor.advance(STACKS_GRACE)
        self.assertEqual(quiet.signals, [STACKS_SIGNAL, signal.SIGCONT, "KILL"])
        quiet.end(signal=9)
        reactor.advance(0)
        self.assertEqual(len(reactor.spawned), 3)
        self.assertEqual(made.restarts, {"crashed": 0, "hung": 1, "recycled": 0})
        self.assertEqual(made.current[1], reactor.spawned[2].protocol)

    def test_laterHungWorkerFoundAndKilledOnce(self) -> None:
        """
        A silent worker in any slot is found, and killed once.
        """
        made, reactor = supervisor(self, 2, "--worker-timeout", "2")
        talking, quiet = reactor.spawned
        ready(talking, quiet)
        for _ in range(5):
            reactor.advance(1)
            talking.say(hello_metrics=counting.RequestCounts().figures())
        self.assertEqual(
            (talking.signals, quiet.signals),
            ([], [STACKS_SIGNAL, signal.SIGCONT, "KILL"]),
        )

    def test_watchEverySecond(self) -> None:
        """
        Silence is checked every second: with a 2 s timeout a worker is
        killed at the third second.
        """
        made, reactor = supervisor(self, 1, "--worker-timeout", "2")
        ready(*reactor.spawned)
        reactor.advance(2)
        self.assertEqual(reactor.spawned[0].signals, [])
        reactor.advance(1)
        self.assertEqual(reactor.spawned[0].signals, [STACKS_SIGNAL, signal.SIGCONT])


class WorkerOutputTests(SynchronousTestCase):
    """
    What a worker writes reaches the supervisor's log, naming it; SIGUSR1 reaches every worker.
    """

    def test_relayedEventsNameTheirWorker(self) -> None:
        """
        A worker's log event, in the supervisor's log, names the worker and
        its PID.
        """
        made, reactor = supervisor(self)
        first = reactor.spawned[0]
        with capturedLogs() as events:
            first.say(log_format="hello from a worker", log_namespace="hello_service.x")
        [event] = [e for e in events if e.get("log_format") == "hello from a worker"]
        self.assertEqual(
            event["log_system"], f"hello_service.x#info worker=1 pid={first.pid}"
        )

    def test_oddOutputSurvives(self) -> None:
        """
        Bytes that are not UTF-8, and an event without namespace or level
        (which observers need), are shown as plain lines.
        """
        made, reactor = supervisor(self)
        ready(reactor.spawned[0])
        worker = reactor.spawned[0].protocol
        with capturedLogs() as events:
            worker.childDataReceived(1, b"\xff\xfe not json\n")
            worker.childDataReceived(2, b"\xff oops\n")
            worker.childDataReceived(1, b'\x1e{"log_format": "plain", "log_time": 0}\n')
        self.assertEqual(
            lines(events),
            [
                "worker 1: \ufffd\ufffd not json",
                "worker 1 (pid 1001): \ufffd oops",
                'worker 1: {"log_format": "plain", "log_time": 0}',
            ],
        )

    def test_usr1PassedOnToEveryWorker(self) -> None:
        """
        SIGUSR1 to the supervisor reaches every worker, which reopens its
        access log.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        made.operations.signals.received(signal.SIGUSR1)
        self.assertEqual(
            [p.signals for p in reactor.spawned], [[signal.SIGUSR1], [signal.SIGUSR1]]
        )


class FigureTests(SynchronousTestCase):
    """
    The service's figures: counters never go back, ended workers leave no gauges.
    """

    def test_countersNeverGoBack(self) -> None:
        """
        The counts of a worker that ended stay in the service's figures.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        kind = counting.answerKind("/", b"200")
        counts = counting.RequestCounts()
        counts.answered[kind] = 7
        reactor.spawned[0].say(hello_metrics=counts.figures())
        reactor.spawned[1].say(hello_metrics=counts.figures())
        self.assertEqual(made.reports.figures()["kinds"][0][2], 14)
        reactor.spawned[0].end(signal=9)
        self.assertEqual(made.reports.figures()["kinds"][0][2], 14)

    def test_eachWorkersShare(self) -> None:
        """
        Each worker serving is listed with the requests it answered and the
        connections it accepted, and C{/metrics} gives both by worker.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        kind = counting.answerKind("/", b"200")
        for spawned, answered, accepted in zip(
            reactor.spawned, (30, 10), (6, 2), strict=True
        ):
            counts = counting.RequestCounts()
            counts.answered[kind] = answered
            counts.connections = accepted
            figures = counts.figures()
            figures["process"] = {"lag": 0.0, "cpuSeconds": 1.0}
            spawned.say(hello_metrics=figures)
        workers = made.reports.figures()["workers"]
        self.assertEqual(
            {slot: (w["requests"], w["connections"]) for slot, w in workers.items()},
            {"1": (30, 6), "2": (10, 2)},
        )
        self.assertEqual(made.reports.figures()["connections"], 8)
        text = exposition(made.reports.figures())
        self.assertEqual(
            samples(text, "hello_worker_requests_total"),
            {'{worker="1"}': 30.0, '{worker="2"}': 10.0},
        )
        self.assertEqual(
            samples(text, "hello_worker_connections_total"),
            {'{worker="1"}': 6.0, '{worker="2"}': 2.0},
        )

    def test_endedWorkersLeaveNoGauges(self) -> None:
        """
        A worker that ended keeps its counters in the service's figures,
        not its gauges (its connections are gone).
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        reactor.spawned[0].say(
            hello_metrics=counting.RequestCounts().figures(hello_connections_open=7)
        )
        reactor.spawned[0].end(signal=9)
        self.assertEqual(made.reports.figures()["gauges"], {})


def lines(events: list[dict[str, object]]) -> list[str]:
    return [formatEvent(e) for e in events]


class OperatorLinesTests(SynchronousTestCase):
    """
    What the supervisor tells the operator, word for word, and what it
    starts each worker with.
    """

    def test_workerCommandLine(self) -> None:
        """
        Each worker is C{python -m hello_service.worker} with its slot and
        the configuration's settings, as a process group of its own with
        standard input a pipe from the supervisor.
        """
        made, reactor = supervisor(self, 2, "--sleep", "2.5")
        first = reactor.spawned[0]
        self.assertEqual(
            first.arguments[1:5], ["-m", "hello_service.worker", "--slot", "1"]
        )
        settings = json.loads(first.arguments[first.arguments.index("--settings") + 1])
        self.assertEqual(settings["sleep"], 2.5)
        self.assertIsNone(settings["accessLogDescriptor"])

    def test_startAndServingLines(self) -> None:
        """
        Each start and the moment all serve are said, with the PIDs.
        """
        with capturedLogs() as events:
            made, reactor = supervisor(self)
            ready(*reactor.spawned)
        self.assertEqual(
            [
                line
                for line in lines(events)
                if "worker" in line and "hello_service" not in line
            ][:2],
            ["started worker 1 (pid 1001)", "started worker 2 (pid 1002)"],
        )
        self.assertIn(
            "hello_service serving on  with 2 workers (pids 1001, 1002)", lines(events)
        )

    def test_deathLines(self) -> None:
        """
        A death says how the worker ended and when the next one starts; the
        end of a worker being stopped is no failure.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        with capturedLogs() as events:
            reactor.spawned[0].end(signal=9)
            reactor.advance(0)
            reactor.spawned[1].end(exitCode=2)
        self.assertEqual(
            [line for line in lines(events) if "starting a new one" in line],
            [
                "worker 1 (pid 1001) killed by signal 9 (SIGKILL); starting a new one in 0.0 s",
                "worker 2 (pid 1002) exited with status 2; starting a new one in 0.5 s",
            ],
        )
        stopped = made.stopService()
        with capturedLogs() as events:
            for process in reactor.spawned[2:]:
                process.end()
        self.assertIn("worker 1 (pid 1003) exited", lines(events))
        self.successResultOf(stopped)

    def test_failedRestartKeepsTheOldWorkers(self) -> None:
        """
        A rolling restart whose new worker dies before serving stops there,
        saying so, and the old workers keep serving.
        """
        made, reactor = supervisor(self)
        old = list(reactor.spawned)
        ready(*old)
        with capturedLogs() as events:
            made.rollingRestart()
            reactor.spawned[2].end(exitCode=1)
        self.assertEqual([p.signals for p in old], [[], []])
        self.assertEqual(made.phase, Phase.SERVING)
        self.assertEqual([made.current[1], made.current[2]], [p.protocol for p in old])
        self.assertTrue(
            any(
                line.startswith(
                    "rolling restart stopped: the new worker 1 did not start"
                )
                and line.endswith("the old workers keep serving")
                for line in lines(events)
            ),
            lines(events),
        )
        made.rollingRestart()
        self.assertEqual(len(reactor.spawned), 4)

    def test_secondRestartAfterTheFirst(self) -> None:
        """
        SIGHUPs during a rolling restart (whose first new workers may have
        read the files before they changed) make one more restart, once
        the first is done.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        made.rollingRestart()
        with capturedLogs() as events:
            made.rollingRestart()
            made.rollingRestart()
        self.assertIn(
            "rolling restart once the workers serve (restarting now)", lines(events)
        )
        self.assertEqual(len(reactor.spawned), 3)
        ready(reactor.spawned[2])
        ready(reactor.spawned[3])
        self.assertEqual(len(reactor.spawned), 5)  # the second restart's first
        self.assertEqual(made.phase, Phase.RESTARTING)
        ready(reactor.spawned[4])
        ready(reactor.spawned[5])
        self.assertEqual(len(reactor.spawned), 6)  # and no third
        self.assertEqual(made.phase, Phase.SERVING)

    def test_restartAskedWhileStarting(self) -> None:
        """
        A SIGHUP before every worker serves is a rolling restart once they
        do.
        """
        made, reactor = supervisor(self)
        ready(reactor.spawned[0])
        with capturedLogs() as events:
            made.rollingRestart()
        self.assertIn(
            "rolling restart once the workers serve (starting now)", lines(events)
        )
        self.assertEqual(len(reactor.spawned), 2)
        ready(reactor.spawned[1])
        self.assertEqual(made.phase, Phase.RESTARTING)
        self.assertEqual(len(reactor.spawned), 3)

    def test_noRestartWhileStopping(self) -> None:
        """
        A SIGHUP while stopping is said and ignored.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        made.stopService()
        with capturedLogs() as events:
            made.rollingRestart()
        self.assertIn("no rolling restart while stopping", lines(events))
        self.assertEqual(len(reactor.spawned), 2)

    def test_workerThatWillNotStopIsKilled(self) -> None:
        """
        A worker still running when its drain should have ended is killed,
        saying so.
        """
        made, reactor = supervisor(self, 2, "--shutdown-timeout", "1")
        ready(*reactor.spawned)
        with capturedLogs() as events:
            stopped = made.stopService()
            reactor.spawned[0].end()
            reactor.advance(6.1)
        self.assertEqual(reactor.spawned[1].signals, ["TERM", "KILL"])
        self.assertIn("worker 2 (pid 1002) did not stop: killing it", lines(events))
        reactor.spawned[1].end(signal=9)
        self.successResultOf(stopped)

    def test_outputSplitAcrossReads(self) -> None:
        """
        Lines are whole however the pipe cuts them; standard error lines are
        warnings naming the worker; a line that is no event is shown as it
        is.
        """
        made, reactor = supervisor(self)
        ready(reactor.spawned[0])
        worker = reactor.spawned[0].protocol
        with capturedLogs() as events:
            worker.childDataReceived(2, b"first ha")
            worker.childDataReceived(2, b"lf\nsecond\n\n")
            worker.childDataReceived(1, b"not json\n")
        self.assertEqual(
            lines(events),
            ["worker 1 (pid 1001): first half\nsecond", "worker 1: not json"],
        )

    def test_workerThatNeverStartsIsKilled(self) -> None:
        """
        A worker that says nothing for the start timeout is killed as hung.
        """
        made, reactor = supervisor(self)
        ready(reactor.spawned[1])
        reactor.advance(29)
        self.assertEqual(reactor.spawned[0].signals, [])
        reactor.advance(2)
        self.assertEqual(reactor.spawned[0].signals, [STACKS_SIGNAL, signal.SIGCONT])
        reactor.advance(STACKS_GRACE)
        self.assertEqual(
            reactor.spawned[0].signals, [STACKS_SIGNAL, signal.SIGCONT, "KILL"]
        )

    def test_exitDescriptions(self) -> None:
        """
        How a process ended, as an operator reads it.
        """
        from twisted.internet.error import ProcessDone, ProcessTerminated
        from twisted.python.failure import Failure

        from hello_service.processes.crashes import describeExit

        self.assertEqual(
            describeExit(Failure(ProcessTerminated(None, 15))),
            "killed by signal 15 (SIGTERM)",
        )
        self.assertEqual(
            describeExit(Failure(ProcessTerminated(4, None))), "exited with status 4"
        )
        self.assertEqual(describeExit(Failure(ProcessDone(0))), "exited with status 0")


class WiringTests(SynchronousTestCase):
    """
    How the supervisor starts its workers on real sockets, serves its admin
    site, and takes the operator's signals, in memory.
    """

    def start(self, *arguments: str) -> tuple[Supervisor, ProcessReactor]:
        reactor = ProcessReactor()
        options = Options(reactor=reactor, environ={})
        options.parseOptions(
            ["--workers", "2", "--listen", "tcp:0:interface=127.0.0.1",
             "--listen", "tcp:0:interface=127.0.0.1", *arguments]
        )  # fmt: skip
        assert options.config is not None
        made = Supervisor(options.config, reactor)
        made.exitWithFailure = lambda: None  # type: ignore[method-assign]
        for number in (signal.SIGHUP, signal.SIGUSR1):
            self.addCleanup(signal.signal, number, signal.getsignal(number))
        made.privilegedStartService()
        self.addCleanup(made._closeListeners)
        listeners = list(made.listeners)
        made.startService()
        self.assertEqual(made.listeners, listeners)  # bound once
        return made, reactor

    def test_socketsAndSettingsHandedToEachWorker(self) -> None:
        """
        Each worker is this Python, with this environment but systemd's
        notify variables (the main process's alone), standard input a pipe
        from the supervisor, and its slot's socket of each endpoint from
        descriptor 3 on.
        """
        os.environ["NOTIFY_SOCKET"] = "/run/systemd/notify"
        self.addCleanup(os.environ.pop, "NOTIFY_SOCKET")
        made, reactor = self.start()
        first = reactor.spawned[0]
        self.assertEqual(first.executable, sys.executable)
        expected = dict(os.environ)
        del expected["NOTIFY_SOCKET"]
        self.assertEqual(first.environment, expected)
        self.assertEqual(
            first.childFDs,
            {0: "w", 1: "r", 2: "r",
             3: made.listeners[0].descriptorFor(1), 4: made.listeners[1].descriptorFor(1)},
        )  # fmt: skip
        inherited = [
            first.arguments[i + 1]
            for i, a in enumerate(first.arguments)
            if a == "--inherit"
        ]
        self.assertEqual(
            inherited,
            ["3:INET:tcp:0:interface=127.0.0.1", "4:INET:tcp:0:interface=127.0.0.1"],
        )
        self.assertNotEqual(
            made.listeners[0].descriptorFor(1), made.listeners[0].descriptorFor(2)
        )
        with capturedLogs() as events:
            ready(*reactor.spawned)
        addresses = ", ".join(listener.address for listener in made.listeners)
        self.assertIn(
            f"hello_service serving on {addresses} with 2 workers (pids 1001, 1002)",
            lines(events),
        )

    def test_accessLinesToTheSupervisorsOutput(self) -> None:
        """
        Where twistd logs to standard output, each worker gets the
        supervisor's standard output after its sockets, and is told which
        descriptor it is; with an access log file, it gets none.
        """
        options = Options(reactor=MemoryReactor(), environ={})
        options.parseOptions(
            ["--workers", "2", "--listen", "tcp:0:interface=127.0.0.1"]
        )
        assert options.config is not None
        from dataclasses import replace

        for config, expected in [
            (replace(options.config, twistdLog="-"), 4),
            (replace(options.config, twistdLog="-", accessLog="/tmp/x"), None),
        ]:
            reactor = ProcessReactor()
            made = Supervisor(config, reactor)
            for number in (signal.SIGHUP, signal.SIGUSR1):
                self.addCleanup(signal.signal, number, signal.getsignal(number))
            made.privilegedStartService()
            self.addCleanup(made._closeListeners)
            made.startService()
            self.addCleanup(made._watching.stop)
            first = reactor.spawned[0]
            settings = json.loads(
                first.arguments[first.arguments.index("--settings") + 1]
            )
            self.assertEqual(settings["accessLogDescriptor"], expected)
            self.assertEqual(first.childFDs.get(4), None if expected is None else 1)

    def test_adminSiteShowsTheWorkersFigures(self) -> None:
        """
        The admin site serves the sum of the workers' figures and the
        restarts by cause, and is ready once every worker serves; the drain
        delay keeps it not ready before the workers are stopped.
        """
        from twisted.web.test.requesthelper import DummyRequest

        made, reactor = self.start("--admin", "tcp:0", "--drain-delay", "2")
        ready(*reactor.spawned)
        counts = counting.RequestCounts()
        counts.answered[counting.answerKind("/", b"200")] = 3
        figures = counts.figures()
        figures["process"] = {"lag": 0.5, "residentBytes": 7e6, "cpuSeconds": 2.0}
        reactor.spawned[0].say(hello_metrics=figures)
        site = reactor.tcpServers[-1][1]
        metrics = site.resource.children[b"metrics"].render_GET(
            DummyRequest([b"metrics"])
        )
        self.assertIn(
            b'hello_requests_total{protocol="HTTP/1.1",route="/",status="200"} 3.0',
            metrics,
        )
        # Each reporting worker's own figures, by its slot.
        self.assertIn(b'hello_reactor_lag_seconds{process="worker-1"} 0.5', metrics)
        self.assertIn(b'hello_worker_resident_memory_bytes{worker="1"} 7e+06', metrics)
        self.assertNotIn(b'worker="2"', metrics)
        self.assertIn(b'hello_worker_restarts_total{cause="hung"} 0.0', metrics)
        self.assertTrue(made.operations.readiness.ready)
        made.stopService()
        self.assertFalse(made.operations.readiness.ready)
        reactor.advance(1.9)
        self.assertEqual(reactor.spawned[0].signals, [])
        reactor.advance(0.1)
        self.assertEqual(reactor.spawned[0].signals, ["TERM"])

    def test_signalsFromTheOperator(self) -> None:
        """
        SIGUSR1 and SIGHUP sent to the process reach the supervisor, which
        says what it does.
        """
        made, reactor = self.start()
        ready(*reactor.spawned)
        with capturedLogs() as events:
            os.kill(os.getpid(), signal.SIGUSR1)
            os.kill(os.getpid(), signal.SIGHUP)
        self.assertEqual(
            [p.signals for p in reactor.spawned[:2]], [[signal.SIGUSR1]] * 2
        )
        self.assertEqual(made.phase, Phase.RESTARTING)
        self.assertEqual(
            [line for line in lines(events) if line.startswith("SIG")],
            [
                "SIGUSR1: passing it on to every worker, to reopen the access log",
                "SIGHUP: rolling restart (pages, code and certificates loaded anew)",
            ],
        )


class ExitTests(SynchronousTestCase):
    def test_exitWithFailureAfterTheReactor(self) -> None:
        """
        Giving up makes the process exit with status 1 once twistd is done
        (twistd itself would exit 0 after a plain stop).
        """
        import atexit

        from hello_service.processes import supervisor as module

        registered: list[object] = []
        self.patch(atexit, "register", registered.append)
        Supervisor.exitWithFailure()
        self.assertEqual(registered, [module._exitWithFailure])
        exits: list[int] = []
        self.patch(os, "_exit", exits.append)
        module._exitWithFailure()
        self.assertEqual(exits, [1])

    def test_replacementDyingBeforeServingLeavesNoUnhandledError(self) -> None:
        """
        A replacement that dies before serving leaves no unhandled error.
        """
        made, reactor = supervisor(self)
        ready(*reactor.spawned)
        reactor.spawned[0].end(signal=9)
        reactor.advance(0)
        reactor.spawned[2].end(signal=9)
        self.assertIsNone(self.successResultOf(reactor.spawned[2].protocol.ready))

    def test_adminPortTakenClosesTheSockets(self) -> None:
        """
        An admin port that cannot listen closes the workers' sockets again
        and stops the start with one line.
        """
        from twisted.internet.error import CannotListenError

        from hello_service.configuration.listening import StartupError

        reactor = ProcessReactor()

        def refuse(*args: object, **kwargs: object) -> None:
            raise CannotListenError("127.0.0.1", 9100, OSError("taken"))

        options = Options(reactor=reactor, environ={})
        options.parseOptions(
            [
                "--workers",
                "2",
                "--listen",
                "tcp:0:interface=127.0.0.1",
                "--admin",
                "tcp:9100",
            ]
        )
        assert options.config is not None
        made = Supervisor(options.config, reactor)
        reactor.listenTCP = refuse  # type: ignore[method-assign]
        with self.assertRaises(StartupError):
            made.privilegedStartService()
        self.assertEqual(made.listeners, [])
