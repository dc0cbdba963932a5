# -*- test-case-name: tests.test_supervisor,tests.system.test_workers -*-
"""
One worker of C{--workers}, as the main process sees it: started with the
worker contract (L{hello_service.processes.handoff}), its log events relayed into
the supervisor's log, its figures kept, its readiness, its signals and its
end.  What happens when it ends is the supervisor's (it is told).

Its log namespace stays C{hello_service.processes.supervisor.WorkerProcess}, the one
the deploying page names, wherever the class lives.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import eventFromJSON, globalLogPublisher
from twisted.python.failure import Failure

from hello_service.configuration.config import Config
from hello_service.configuration.listening import Listener
from hello_service.http.counting import Figures
from hello_service.operations.lognames import NamedLogger
from hello_service.operations.notify import NOTIFY_VARIABLES
from hello_service.operations.statuspage import ProcessStatus
from hello_service.processes.handoff import (
    FIGURES,
    READY,
    REPORT_INTERVAL,
    WorkerArguments,
    encodeSettings,
    workerDescriptors,
)

#: The lines kept of what a worker writes on its standard error while they
#: are held (before it serves, and while it is being killed for hanging).
HELD_LINES = 400

#: A worker silent this long has missed two reports: the status page says
#: it is not reporting (C{--worker-timeout} later has it replaced).
NOT_REPORTING = 2.5 * REPORT_INTERVAL


class WorkerProcess(ProcessProtocol):
    """
    One worker, as the main process sees it: its PID, its log events, its
    readiness and its end.
    """

    log = NamedLogger("hello_service.supervisor.WorkerProcess")

    def __init__(
        self,
        reactor: Any,
        slot: int,
        requestLimit: int,
        whenEnded: Callable[[WorkerProcess, Failure], None],
    ) -> None:
        """
        @param requestLimit: the answers after which it is recycled (0:
            never).
        @param whenEnded: called with it and the reason once its process
            ended, before L{ended} fires.
        """
        self.reactor = reactor
        self.slot = slot
        self._whenEnded = whenEnded
        self.pid: int | None = None
        #: Fires when the worker serves; errbacks if it ends before.
        self.ready: Deferred[None] = Deferred()
        #: Fires when the process has ended.
        self.ended: Deferred[None] = Deferred()
        #: Being replaced or stopped on purpose: its end is no failure.
        self.retiring = False
        #: Its latest figures (it sends them every second, and as it ends).
        self.figures: Figures | None = None
        #: When it was started.
        self.startedAt = reactor.seconds()
        #: When the supervisor last heard from it (its figures come every
        #: second from its reactor: silence means its reactor is stuck).
        self.lastHeard = self.startedAt
        #: Said it serves.
        self.started = False
        #: Killed for not reporting.
        self.hung = False
        #: The answers after which it is recycled (0: never).
        self.requestLimit = requestLimit
        #: What it wrote on its standard error and was not yet logged:
        #: everything before it serves (the last line says why it could not
        #: start, when it could not), and its stacks once it hung.
        self.heldErrors: deque[str] = deque(maxlen=HELD_LINES)
        #: What came after the last newline, by descriptor.
        self._buffers: dict[int, bytes] = {}

    @classmethod
    def spawn(
        cls,
        reactor: Any,
        slot: int,
        config: Config,
        listeners: Sequence[Listener],
        requestLimit: int,
        whenEnded: Callable[[WorkerProcess, Failure], None],
    ) -> WorkerProcess:
        """
        Start the worker of C{slot}: this interpreter, with the worker
        contract's command line, settings and descriptors
        (L{hello_service.processes.handoff}) for C{config} and C{listeners}, and the
        environment less systemd's notify variables (a worker does not
        speak for the service).
        """
        worker = cls(reactor, slot, requestLimit, whenEnded)
        # Access lines go, whole, straight to the supervisor's standard
        # output when twistd writes its own lines there.
        datagrams = []
        for listener in listeners:
            datagram = listener.datagramFor(slot)
            if datagram is not None:
                datagrams.append((datagram, listener.family, listener.description))
        childFDs, inherited, inheritedDatagrams, accessLogDescriptor = workerDescriptors(
            [(listener.descriptorFor(slot), listener.family, listener.description)
             for listener in listeners],
            accessLogToOutput=config.twistdLog == "-" and not config.accessLog,
            datagrams=datagrams,
        )  # fmt: skip
        settings = encodeSettings(config, accessLogDescriptor=accessLogDescriptor)
        arguments = WorkerArguments(slot, inherited, settings, inheritedDatagrams).argv(
            sys.executable
        )
        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in NOTIFY_VARIABLES
        }
        reactor.spawnProcess(
            worker, sys.executable, arguments, env=environment, childFDs=childFDs
        )
        return worker

    def connectionMade(self) -> None:
        self.pid = self.transport.pid  # type: ignore[union-attr]

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.lastHeard = self.reactor.seconds()
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
            self.figures = event[FIGURES]
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
            lastHeard=self.lastHeard,
            figures=self.figures,
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
        self._whenEnded(self, reason)
        self.ended.callback(None)
