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
the events, the exit status of a boot error) is L{hello_service.handoff}'s;
how the sockets are bound for the workers is L{hello_service.listening}'s
(L{bindListeners}).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from collections import deque
from enum import Enum
from random import Random
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred
from twisted.internet.error import ProcessDone, ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import LoopingCall
from twisted.logger import Logger, eventFromJSON, globalLogPublisher
from twisted.python.failure import Failure

from hello_service import __version__
from hello_service.config import Config
from hello_service.counting import Snapshot
from hello_service.crashes import CrashPolicy, describeExit, whyItNeverServed
from hello_service.handoff import (
    FIGURES,
    READY,
    REPORT_INTERVAL,
    WorkerArguments,
    encodeSettings,
    workerDescriptors,
)
from hello_service.hangwatch import START_TIMEOUT, HangWatch
from hello_service.listening import Listener, bindListeners
from hello_service.notify import (
    NOTIFY_VARIABLES,
    ServiceManager,
    statusLine,
)
from hello_service.operations import Operations
from hello_service.statuspage import ProcessStatus, ServiceStatus
from hello_service.vitals import processFigures
from hello_service.workerfigures import WorkerFigures

#: The lines kept of what a worker writes on its standard error while they
#: are held (before it serves, and while it is being killed for hanging).
HELD_LINES = 400

#: Why a worker was replaced, as C{/metrics} counts it: it died, it hung,
#: or it passed a bound of C{--max-requests} or C{--max-worker-memory}.
CAUSES = ("crashed", "hung", "recycled")

#: A worker silent this long has missed two reports: the status page says
#: it is not reporting (C{--worker-timeout} later has it replaced).
NOT_REPORTING = 2.5 * REPORT_INTERVAL


class Phase(Enum):
    """
    Where the supervisor is in its life.
    """

    #: Workers are starting; not ready yet.
    STARTING = "starting"
    #: Every slot has a worker serving.
    SERVING = "serving"
    #: A rolling restart is replacing the workers, one at a time.
    RESTARTING = "restarting"
    #: Told to stop: the workers drain, nothing is replaced.
    STOPPING = "stopping"
    #: A crash loop: everything stops and the process exits with status 1.
    GAVE_UP = "gave up"


class WorkerProcess(ProcessProtocol):
    """
    One worker, as the main process sees it: its PID, its log events, its
    readiness and its end.
    """

    log = Logger()

    def __init__(self, supervisor: Supervisor, slot: int) -> None:
        self.supervisor = supervisor
        self.slot = slot
        self.pid: int | None = None
        #: Fires when the worker serves; errbacks if it ends before.
        self.ready: Deferred[None] = Deferred()
        #: Fires when the process has ended.
        self.ended: Deferred[None] = Deferred()
        #: Being replaced or stopped on purpose: its end is no failure.
        self.retiring = False
        #: Its latest figures (it sends them every second, and as it ends).
        self.metrics: Snapshot | None = None
        #: When it was started.
        self.startedAt = supervisor.reactor.seconds()
        #: When the supervisor last heard from it (its figures come every
        #: second from its reactor: silence means its reactor is stuck).
        self.lastHeard = self.startedAt
        #: Said it serves.
        self.started = False
        #: Killed for not reporting.
        self.hung = False
        #: The answers after which it is recycled (0: never).
        self.requestLimit = supervisor.recycling.requestLimit(supervisor.random)
        #: What it wrote on its standard error and was not yet logged:
        #: everything before it serves (the last line says why it could not
        #: start, when it could not), and its stacks once it hung.
        self.heldErrors: deque[str] = deque(maxlen=HELD_LINES)
        #: What came after the last newline, by descriptor.
        self._buffers: dict[int, bytes] = {}

    @classmethod
    def spawn(cls, supervisor: Supervisor, slot: int) -> WorkerProcess:
        """
        Start the worker of C{slot}: this interpreter, with the worker
        contract's command line, settings and descriptors
        (L{hello_service.handoff}), and the environment less systemd's
        notify variables (a worker does not speak for the service).
        """
        worker = cls(supervisor, slot)
        config = supervisor.config
        # Access lines go, whole, straight to the supervisor's standard
        # output when twistd writes its own lines there.
        childFDs, inherited, accessLogDescriptor = workerDescriptors(
            [(listener.descriptorFor(slot), listener.family, listener.description)
             for listener in supervisor.listeners],
            accessLogToOutput=config.twistdLog == "-" and not config.accessLog,
        )  # fmt: skip
        settings = encodeSettings(config, accessLogDescriptor=accessLogDescriptor)
        arguments = WorkerArguments(slot, inherited, settings).argv(sys.executable)
        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in NOTIFY_VARIABLES
        }
        supervisor.reactor.spawnProcess(
            worker, sys.executable, arguments, env=environment, childFDs=childFDs
        )
        return worker

    def connectionMade(self) -> None:
        self.pid = self.transport.pid  # type: ignore[union-attr]

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.lastHeard = self.supervisor.reactor.seconds()
        lines = (self._buffers.get(childFD, b"") + data).split(b"\n")
        self._buffers[childFD] = lines.pop()
        if childFD == 1:
            for line in lines:
                self._relayEvent(line)
            return
        text = [line.decode("utf-8", "replace").rstrip() for line in lines]
        if not self.started or self.hung:
            self.heldErrors.extend(t for t in text if t.strip())
        elif any(t.strip() for t in text):
            # One event for what came together: a traceback stays one block.
            self.log.warn(
                "worker {slot} (pid {pid}): {text}",
                slot=self.slot,
                pid=self.pid,
                text="\n".join(text).strip("\n"),
            )

    @property
    def lastError(self) -> str:
        """
        The last line it wrote on its standard error while held: why it
        could not start, when it could not (a traceback's last line is the
        exception).
        """
        return self.heldErrors[-1].strip() if self.heldErrors else ""

    def _relayEvent(self, line: bytes) -> None:
        """
        Publish a worker's log event in the supervisor's log, naming the
        worker; keep its figures; note that it serves.  A line that is not
        a whole event (no namespace or level, which every observer needs) is
        shown as it is.
        """
        text = line.lstrip(b"\x1e").decode("utf-8", "replace")
        if not text.strip():
            return
        try:
            event = eventFromJSON(text)
            # A legacy log.msg (Twisted's own "Factory starting on"...) is
            # named by its system, as twistd names it in one process.
            namespace = event["log_namespace"]
            if namespace == "log_legacy":
                namespace = event.get("system", "-")
            system = f"{namespace}#{event['log_level'].name}"
        except (ValueError, KeyError, AttributeError):
            self.log.warn("worker {slot}: {line}", slot=self.slot, line=text)
            return
        if FIGURES in event:
            self.metrics = event[FIGURES]
            return
        event["log_system"] = f"{system} worker={self.slot} pid={self.pid}"
        globalLogPublisher(event)
        if event.get(READY) and not self.ready.called:
            self.started = True
            self.ready.callback(None)

    def signal(self, name: str | int) -> None:
        """
        Send the worker a signal: C{TERM}, C{KILL}, or a number.
        """
        try:
            self.transport.signalProcess(name)  # type: ignore[union-attr]
        except ProcessExitedAlready:
            pass

    @property
    def serving(self) -> bool:
        """
        Whether it said it serves and is not being stopped.
        """
        return self.started and not self.retiring

    def state(self, now: float) -> str:
        """
        Where it is, as the status page says it: C{starting}, C{serving},
        C{draining}, C{not reporting} (silent for more than two reports),
        or C{hung, being replaced} (killed for its silence).
        """
        if self.hung:
            return "hung, being replaced"
        if self.retiring:
            return "draining"
        if now - self.lastHeard > NOT_REPORTING:
            return "not reporting"
        return "serving" if self.started else "starting"

    def status(self, now: float) -> ProcessStatus:
        """
        This worker as the status page shows it.
        """
        return ProcessStatus(
            name=f"worker {self.slot}",
            serves=True,
            state=self.state(now),
            pid=self.pid,
            started=self.startedAt,
            slot=self.slot,
            lastReport=self.lastHeard,
            figures=self.metrics,
        )

    def retire(self) -> None:
        """
        Stop this worker gracefully: it stops accepting and drains.
        """
        self.retiring = True
        self.signal("TERM")

    def processEnded(self, reason: Failure) -> None:
        for childFD, rest in list(self._buffers.items()):
            if rest:
                self.childDataReceived(childFD, b"\n")
        if self.hung and self.heldErrors:
            self.log.warn(
                "worker {slot} (pid {pid}) hung here:\n{stacks}",
                slot=self.slot,
                pid=self.pid,
                stacks="\n".join(self.heldErrors),
            )
        if not self.ready.called:
            self.ready.errback(reason)
        self.supervisor.workerEnded(self, reason)
        self.ended.callback(None)


class Supervisor(Service):
    """
    The main process of C{--workers N}: binds, starts, watches and replaces
    the workers, and stops them all on SIGTERM.

    @ivar phase: where it is in its life (L{Phase}).
    """

    log = Logger()

    @staticmethod
    def exitWithFailure() -> None:
        """
        Make the process exit with status 1 once the reactor has stopped:
        twistd exits 0 after a plain stop.  (A test replaces this.)
        """
        atexit.register(_exitWithFailure)

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
        self.endpoints = list(config.endpoints)
        self.config = config
        self.count = config.workers
        self.workerTimeout = config.workerTimeout
        self.recycling = config.recycling
        self.random = random or Random()
        #: The recycling under way (one worker at a time), if any.
        self._recycled: Deferred[None] | None = None
        self.shutdownTimeout = config.shutdownTimeout
        self.listeners: list[Listener] = []
        #: The worker serving each slot (1 to N).
        self.current: dict[int, WorkerProcess] = {}
        #: Every worker process alive, retiring ones included.
        self.alive: set[WorkerProcess] = set()
        #: How many workers were started in place of one that died or hung,
        #: by cause.
        self.restarts = dict.fromkeys(CAUSES, 0)
        self.phase = Phase.STARTING
        self._started = reactor.seconds()
        #: The workers' figures, those that ended included.
        self.figures = WorkerFigures()
        #: The reactor: the workers' processes, the timers, the stop.
        self.reactor = reactor
        #: What a worker's death calls for: a replacement, and when.
        self.crashes = CrashPolicy(reactor)
        #: Workers silent too long are asked for their stacks and killed.
        self.hangs = HangWatch(reactor, config.workerTimeout, self.log)
        self._watching = LoopingCall(self._watchWorkers)
        self._watching.clock = reactor
        #: The operator's side: signals, this process's lag (each worker's
        #: comes with its figures), readiness (every slot serving), the admin
        #: site, the service manager (systemd, if it asks).  SIGHUP is a
        #: rolling restart; SIGUSR1 is passed on to every worker, which
        #: reopens its access log.
        self.operations = Operations(
            reactor,
            ServiceManager.fromEnvironment(os.environ, reactor),
            {
                signal.SIGHUP: (
                    "rolling restart (pages, code and certificates loaded anew)",
                    self._restartInBackground,
                ),
                signal.SIGUSR1: (
                    "passing it on to every worker, to reopen the access log",
                    self._passOnReopen,
                ),
            },
            config.admin,
            config.drainDelay,
            serving=self._everySlotServes,
        )

    # Starting.

    def privilegedStartService(self) -> None:
        super().privilegedStartService()  # type: ignore[no-untyped-call]
        self._bind()

    def _bind(self) -> None:
        self.listeners = bindListeners(self.endpoints, self.count)
        self.operations.admin.listen(
            self.metricsSnapshot,
            self._closeListeners,
            lambda: dict(self.restarts),
            self.serviceStatus,
        )

    def _closeListeners(self) -> None:
        for listener in self.listeners:
            listener.close()
        self.listeners = []

    def metricsSnapshot(self) -> Snapshot:
        """
        The figures of the whole service (L{WorkerFigures}).
        """
        return self.figures.snapshot(
            self.alive,
            self.operations.lag.seconds,
            {c.description: c.expires for c in self.config.certificates},
        )

    def serviceStatus(self) -> ServiceStatus:
        """
        The service as the status page shows it: this process, which
        supervises, and each worker, in slot order.
        """
        now = self.reactor.seconds()
        main = ProcessStatus(
            name="main",
            serves=False,
            state=self.phase.value,
            pid=os.getpid(),
            started=self._started,
            figures={
                "process": {"lag": self.operations.lag.seconds, **processFigures()}
            },
        )
        workers = [
            w.status(now)
            for w in sorted(self.alive, key=lambda w: (w.slot, w.startedAt))
        ]
        return ServiceStatus(
            version=__version__,
            pid=os.getpid(),
            mode="parallel" if self.config.parallel else "concurrent",
            state=self.phase.value,
            ready=self.operations.admin.ready,
            started=self._started,
            workers=self.count,
            processes=[main, *workers],
            restarts=dict(self.restarts),
            figures=self.metricsSnapshot(),
        )

    def _everySlotServes(self) -> bool:
        """
        Whether every worker slot has a worker that said it serves: what
        C{/ready}, C{hello_ready} and the status page say, on top of the
        service having started and not being stopped.
        """
        return all(
            slot in self.current
            and self.current[slot].started
            and not self.current[slot].hung
            for slot in range(1, self.count + 1)
        )

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self._started = self.reactor.seconds()
        if not self.listeners:
            self._bind()
        for slot in range(1, self.count + 1):
            self.current[slot] = self._spawn(slot)
        self.operations.start(self.describe)
        self._watching.start(1.0, now=False)
        ensureDeferred(self._announce())

    def describe(self) -> str:
        """
        The service in the service manager's one line (C{systemctl status}).
        """
        serving = sum(1 for w in self.current.values() if w.serving and not w.hung)
        snapshot = self.metricsSnapshot()
        workers = f"{serving} of {self.count} workers serving"
        return statusLine(
            workers
            if self.phase is Phase.SERVING
            else f"{self.phase.value}: {workers}",
            snapshot,
            self.operations.rate.update(snapshot),
        )

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
        self.log.info(
            "hello_service serving on {addresses} with {count} workers (pids {pids})"
            "{chosenBy}{admin}",
            admin=self.operations.admin.described(),
            addresses=", ".join(listener.address for listener in self.listeners),
            count=self.count,
            chosenBy=(
                f"; --workers auto chose {self.count} {self.config.workersChosenBy}"
                if self.config.workersChosenBy
                else ""
            )
            + (f"; {self.recycling.describe()}" if self.recycling.describe() else ""),
            pids=", ".join(str(w.pid) for _, w in sorted(self.current.items())),
        )

    def _spawn(self, slot: int) -> WorkerProcess:
        worker = WorkerProcess.spawn(self, slot)
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
        self.operations.admin.ready = False
        self.log.critical("hello: {why}", why=why)
        self.operations.manager.stopping(f"gave up: {why}")
        for other in list(self.alive):
            other.retire()
        self.exitWithFailure()
        self.reactor.stop()

    # Watching the workers' reports.

    def _watchWorkers(self) -> None:
        """
        Once a second: kill the hung workers, and recycle one that passed
        its bounds.
        """
        self.hangs.check(list(self.current.values()))
        self._recycleOneDue()

    # Recycling.

    def _recycleOneDue(self) -> None:
        """
        Start recycling the first worker past a bound of C{--max-requests}
        or C{--max-worker-memory}: unless one is being recycled already, or
        a rolling restart or the stop is replacing workers anyway.
        """
        if (
            not self.recycling.active
            or self._recycled is not None
            or self.phase is not Phase.SERVING
        ):
            return
        due = self.recycling.firstDue(
            (slot, worker)
            for slot, worker in sorted(self.current.items())
            if worker.serving and not worker.hung and worker.metrics is not None
        )
        if due is not None:
            slot, why = due
            self.log.info(
                "recycling worker {slot} (pid {pid}): {why}",
                slot=slot, pid=self.current[slot].pid, why=why,
            )  # fmt: skip
            self._recycled = ensureDeferred(self._recycle(slot))

    async def _recycle(self, slot: int) -> None:
        try:
            if await self._replaceServing(slot, Phase.SERVING, "recycling"):
                self.restarts["recycled"] += 1
                self.log.info(
                    "recycled worker {slot}: pid {pid} serves",
                    slot=slot, pid=self.current[slot].pid,
                )  # fmt: skip
        finally:
            self._recycled = None

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
        for certificate in self.config.certificates:
            if not certificate.reload(
                "the workers keep serving the one loaded before; no rolling restart"
            ):
                return
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
        if self._recycled is not None:
            # One replacement at a time: the recycling finishes first.
            await self._recycled
        if self.phase is not Phase.SERVING:
            self.log.info("no rolling restart while {phase}", phase=self.phase.value)
            return
        self.phase = Phase.RESTARTING
        self.operations.manager.reloading()
        self.log.info("rolling restart of {count} workers", count=len(self.current))
        try:
            for slot in sorted(self.current):
                replaced = await self._replaceServing(
                    slot, Phase.RESTARTING, "rolling restart"
                )
                if not replaced:
                    return
            self.log.info(
                "rolling restart done: workers {pids}",
                pids=", ".join(str(w.pid) for _, w in sorted(self.current.items())),
            )
        finally:
            if self.phase is Phase.RESTARTING:
                self.phase = Phase.SERVING
                self.operations.manager.ready()

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
            self.shutdownTimeout + 5, self._killStragglers
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
                slot=worker.slot,
                pid=worker.pid,
            )
            worker.signal("KILL")


def _exitWithFailure() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)
