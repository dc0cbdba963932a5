# -*- test-case-name: tests.test_supervisor,tests.system.test_workers -*-
"""
C{--workers N}: the supervisor.  The main process owns the listening sockets
and N worker processes serve them, the way gunicorn's arbiter does it.

The supervisor binds every C{--listen} endpoint (a systemd socket too),
never accepts on them, and starts each worker (L{hello_service.worker})
with the sockets as inherited descriptors and the settings it needs.  It
relays the workers' log events into its own log, replaces a worker that
dies after serving (with a backoff, giving up on a crash loop), ends the
start at once when a worker dies before it serves (the next would die the
same way), asks a hung worker for its stacks before killing it, turns
SIGTERM and SIGINT into a drain of every worker, and SIGHUP into a rolling
restart: each worker is replaced by a fresh one that is serving before the
old one stops accepting and drains.  The sockets stay open in the main
process throughout, so no connection is refused or reset by a restart.

What the supervisor and a worker agree on (the command line, the settings,
the events, the exit status of a boot error) is L{hello_service.processes.handoff}'s;
how the sockets are bound for the workers is L{hello_service.configuration.listening}'s
(L{bindListeners}).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from random import Random
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred
from twisted.internet.error import ProcessDone
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from hello_service.configuration.config import Config
from hello_service.configuration.listening import Listener, bindListeners, closeAll
from hello_service.configuration.recycling import Recycler
from hello_service.operations.lognames import NamedLogger
from hello_service.operations.notify import (
    ServiceManager,
)
from hello_service.operations.operations import Operations
from hello_service.processes.crashes import CrashPolicy, describeExit, whyItNeverServed
from hello_service.processes.hangwatch import START_TIMEOUT, HangWatch
from hello_service.processes.supervisorreports import Phase, SupervisorReports
from hello_service.processes.workerfigures import WorkerFigures
from hello_service.processes.workerprocess import WorkerProcess

#: Why a worker was replaced, as C{/metrics} counts it: it died, it hung,
#: or it passed a bound of C{--max-requests} or C{--max-worker-memory}.
CAUSES = ("crashed", "hung", "recycled")


class Supervisor(Service):
    """
    The main process of C{--workers N}: binds, starts, watches and replaces
    the workers, and stops them all on SIGTERM.

    @ivar phase: where it is in its life (L{Phase}).
    """

    log = NamedLogger("hello_service.supervisor.Supervisor")

    #: Make the process exit with status 1 once the reactor has stopped
    #: (twistd exits 0 after a plain stop).  A test replaces it.
    exitWithFailure = staticmethod(lambda: atexit.register(_exitWithFailure))

    def __init__(
        self, config: Config, reactor: Any, random: Random | None = None
    ) -> None:
        """
        @param config: what to serve; its C{workers} is how many workers,
            its C{workerTimeout} how long one may stay silent, its C{admin}
            serves the figures of all of them, its C{recycling} when a
            worker is replaced for serving long or growing large.
        @param random: where the recycling's jitter comes from.
        """
        self.config = config
        self.count = config.workers
        self.random = random or Random()
        #: Recycling, one worker at a time.
        self.recycler = Recycler(config.recycling, self._recycle)
        self.listeners: list[Listener] = []
        #: The worker serving each slot (1 to N).
        self.current: dict[int, WorkerProcess] = {}
        #: Every worker process alive, retiring ones included.
        self.alive: set[WorkerProcess] = set()
        #: How many workers were started in place of one that died or hung,
        #: by cause.
        self.restarts = dict.fromkeys(CAUSES, 0)
        self.phase = Phase.STARTING
        #: A SIGHUP came while starting or restarting: restart once serving.
        self._restartWanted = False
        self.started = reactor.seconds()
        #: The workers' figures, those that ended included.
        self.figures = WorkerFigures()
        #: What it says of the service: figures, status, its lines.
        self.reports = SupervisorReports(self)
        #: The reactor: the workers' processes, the timers, the stop.
        self.reactor = reactor
        #: What a worker's death calls for: a replacement, and when.
        self.crashes = CrashPolicy(reactor)
        #: Workers silent too long are asked for their stacks and killed.
        self.hangs = HangWatch(reactor, config.workerTimeout, self.log)
        self._watching = LoopingCall(self._watchWorkers)
        self._watching.clock = reactor
        #: The operator's side (L{operatorSide}).
        self.operations = operatorSide(self)

    # Starting.

    def privilegedStartService(self) -> None:
        super().privilegedStartService()  # type: ignore[no-untyped-call]
        self._bind()

    def _bind(self) -> None:
        config = self.config
        self.listeners = bindListeners(config.endpoints, self.count, bool(config.http3))
        self.operations.admin.listen(
            self.reports.figures,
            self._closeListeners,
            lambda: dict(self.restarts),
            self.reports.status,
        )

    def _closeListeners(self) -> None:
        closeAll(self.listeners)
        self.listeners = []

    def _everySlotServes(self) -> bool:
        """
        Whether every slot has a worker that said it serves: what C{/ready},
        C{hello_ready} and the status page say (once started, until stopped).
        """
        return all(
            slot in self.current
            and self.current[slot].started
            and not self.current[slot].hung
            for slot in range(1, self.count + 1)
        )

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self.started = self.reactor.seconds()
        if not self.listeners:
            self._bind()
        for slot in range(1, self.count + 1):
            self.current[slot] = self._spawn(slot)
        self.operations.start(self.reports.managerLine)
        self._watching.start(1.0, now=False)
        ensureDeferred(self._announce())

    async def _announce(self) -> None:
        results = await DeferredList(
            [worker.ready for worker in self.current.values()],
            fireOnOneErrback=True,
            consumeErrors=True,
        ).addErrback(lambda _: None)
        if results is None:
            return  # a worker could not start: the supervisor gave up
        if self.phase is Phase.STARTING:
            self.phase = Phase.SERVING
            self.operations.serving()
        self.log.info("{line}", line=self.reports.servingLine())
        self._restartIfWanted()

    def _spawn(self, slot: int) -> WorkerProcess:
        worker = WorkerProcess.spawn(
            self.reactor,
            slot,
            self.config,
            self.listeners,
            self.config.recycling.requestLimit(self.random),
            self.workerEnded,
        )
        self.alive.add(worker)
        self.log.info("started worker {slot} (pid {pid})", slot=slot, pid=worker.pid)
        return worker

    # Watching.

    def workerEnded(self, worker: WorkerProcess, reason: Failure) -> None:
        """
        A worker process ended: expected when retiring or stopping; before
        it served, the end of the start (unless a rolling restart started
        it: the restart stops and says so); after, a failure replaced after
        a backoff, or the end of a crash loop.
        """
        self.alive.discard(worker)
        self.figures.ended(worker)
        how = describeExit(reason)
        if worker.retiring or self.phase in (Phase.STOPPING, Phase.GAVE_UP):
            self.log.info(
                "worker {slot} (pid {pid}) {how}", slot=worker.slot, pid=worker.pid,
                how="exited" if reason.check(ProcessDone) else how,
            )  # fmt: skip
            return
        if self.current.get(worker.slot) is not worker:
            return  # a rolling restart's new worker: the restart says so
        if not worker.started:
            self._giveUp(
                f"worker {worker.slot} could not start: {whyItNeverServed(worker, reason)}"
            )
            return
        del self.current[worker.slot]
        cause = "hung" if worker.hung else "crashed"
        delay = self.crashes.died()
        if delay is None:
            self._giveUp(self.crashes.givingUp())
            return
        self.log.warn(
            "worker {slot} (pid {pid}) {how}; starting a new one in {delay} s",
            slot=worker.slot, pid=worker.pid, how=how, delay=delay,
        )  # fmt: skip
        self.reactor.callLater(delay, self._replace, worker.slot, cause)

    def _replace(self, slot: int, cause: str) -> None:
        if self.phase in (Phase.STOPPING, Phase.GAVE_UP) or slot in self.current:
            return
        self.restarts[cause] += 1
        worker = self.current[slot] = self._spawn(slot)
        worker.ready.addErrback(lambda _: None)  # its end says why

    def _giveUp(self, why: str) -> None:
        """
        A crash loop, or a worker that cannot start: stop everything and
        exit with status 1, saying C{why} in one line.
        """
        if self.phase is Phase.GAVE_UP:
            return
        self.phase = Phase.GAVE_UP
        self.operations.readiness.stopped()
        self.log.critical("hello: {why}", why=why)
        self.operations.manager.stopping(f"gave up: {why}")
        for other in list(self.alive):
            other.retire()
        self.exitWithFailure()
        self.reactor.stop()

    def _watchWorkers(self) -> None:
        """
        Once a second: kill the hung workers, and recycle one that passed
        its bounds (unless a rolling restart or the stop is replacing
        workers anyway).
        """
        self.hangs.check(list(self.current.values()))
        if self.phase is Phase.SERVING:
            self.recycler.check(
                (slot, worker)
                for slot, worker in sorted(self.current.items())
                if worker.serving and not worker.hung and worker.figures is not None
            )

    async def _recycle(self, slot: int, why: str) -> None:
        self.log.info(
            "recycling worker {slot} (pid {pid}): {why}",
            slot=slot, pid=self.current[slot].pid, why=why,
        )  # fmt: skip
        if await self._replaceServing(slot, Phase.SERVING, "recycling"):
            self.restarts["recycled"] += 1
            self.log.info(
                "recycled worker {slot}: pid {pid} serves",
                slot=slot, pid=self.current[slot].pid,
            )  # fmt: skip

    async def _replaceServing(self, slot: int, phase: Phase, what: str) -> bool:
        """
        Start a new worker for C{slot}; once it serves, it takes the slot
        and the old one drains.  Written once for the rolling restart and
        for recycling.

        @param phase: the phase the replacement belongs to: if the
            supervisor has left it by the time the new worker serves (it is
            stopping), the slot is left as it is.
        @return: whether the new worker took the slot.
        """
        old = self.current.get(slot)
        new = self._spawn(slot)
        new.ready.addTimeout(START_TIMEOUT, self.reactor)
        try:
            await new.ready
        except Exception as error:
            new.retire()
            self.log.error(
                "{what} stopped: the new worker {slot} did not start ({error}); "
                "the old workers keep serving",
                what=what, slot=slot, error=error,
            )  # fmt: skip
            return False
        if self.phase is not phase:
            return False
        self.current[slot] = new
        if old is not None:
            old.retire()
        return True

    # Operator signals.

    def _restartInBackground(self) -> None:
        """
        SIGHUP: a rolling restart, whose new workers load the pages, the
        code and the certificates anew.  The certificates are read here
        first: one that cannot be loaded would stop the restart at its
        first new worker, so the workers keep serving as they are.
        """
        kept = "the workers keep serving the one loaded before; no rolling restart"
        if all(c.reload(kept) for c in self.config.certificates):
            self.rollingRestart()

    def _passOnReopen(self) -> None:
        for worker in list(self.alive):
            worker.signal(signal.SIGUSR1)

    # Rolling restart.

    def rollingRestart(self) -> Deferred[None]:
        """
        Replace every worker, one at a time: the new one serves before the
        old one stops accepting and drains.
        """
        return ensureDeferred(self._rollingRestart())

    async def _rollingRestart(self) -> None:
        # One replacement at a time: the recycling finishes first.
        await self.recycler.finished()
        if self.phase in (Phase.STARTING, Phase.RESTARTING):
            # Workers already started may have read the files this SIGHUP
            # is about before they changed: the restart comes once they
            # all serve, one for any number of SIGHUPs meanwhile.
            self._restartWanted = True
            self.log.info(
                "rolling restart once the workers serve ({phase} now)",
                phase=self.phase.value,
            )
            return
        if self.phase is not Phase.SERVING:
            self.log.info("no rolling restart while {phase}", phase=self.phase.value)
            return
        self._restartWanted = False
        self.phase = Phase.RESTARTING
        self.operations.manager.reloading()
        self.log.info("rolling restart of {count} workers", count=len(self.current))
        try:
            for slot in sorted(self.current):
                if not await self._replaceServing(
                    slot, Phase.RESTARTING, "rolling restart"
                ):
                    return
            self.log.info(
                "rolling restart done: workers {pids}", pids=self.reports.pids()
            )
        finally:
            if self.phase is Phase.RESTARTING:
                self.phase = Phase.SERVING
                self.operations.manager.ready()
                self._restartIfWanted()

    def _restartIfWanted(self) -> None:
        """
        Serving again: the rolling restart a SIGHUP asked for meanwhile.
        """
        if self._restartWanted:
            self.rollingRestart()

    # Stopping.

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        return ensureDeferred(self._stop())

    async def _stop(self) -> None:
        gaveUp = self.phase is Phase.GAVE_UP  # which told the manager why
        self.phase = Phase.STOPPING
        await self.operations.stopBeingReady(then=self._stopWatching, tell=not gaveUp)
        workers = list(self.alive)
        self.log.info("stopping {count} workers", count=len(workers))
        for worker in workers:
            worker.retire()
        # The workers stop listening as they begin to drain; once no process
        # holds the sockets, new connections are refused, as by one process.
        self._closeListeners()
        # Each worker bounds its own drain by the shutdown timeout; one still
        # running a while after is killed.  (A timer, not a timeout on the
        # Deferreds: cancelling them would not stop a process.)
        deadline = self.reactor.callLater(
            self.config.shutdownTimeout + 5, self._killStragglers
        )
        await DeferredList([w.ended for w in workers], consumeErrors=True)
        if deadline.active():
            deadline.cancel()
        await self.operations.close()

    def _stopWatching(self) -> None:
        if self._watching.running:
            self._watching.stop()

    def _killStragglers(self) -> None:
        for worker in list(self.alive):
            self.log.warn(
                "worker {slot} (pid {pid}) did not stop: killing it",
                slot=worker.slot, pid=worker.pid,
            )  # fmt: skip
            worker.signal("KILL")


def _exitWithFailure() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def operatorSide(supervisor: Supervisor) -> Operations:
    """
    The operator's side of a supervisor (L{Operations}), ready when every
    slot serves: SIGHUP is a rolling restart; SIGUSR1 is passed on to every
    worker, which reopens its access log.
    """
    reactor = supervisor.reactor
    return Operations(
        reactor,
        ServiceManager.fromEnvironment(os.environ, reactor),
        {
            signal.SIGHUP: (
                "rolling restart (pages, code and certificates loaded anew)",
                supervisor._restartInBackground,
            ),
            signal.SIGUSR1: (
                "passing it on to every worker, to reopen the access log",
                supervisor._passOnReopen,
            ),
        },
        supervisor.config.admin,
        supervisor.config.drainDelay,
        serving=supervisor._everySlotServes,
    )
