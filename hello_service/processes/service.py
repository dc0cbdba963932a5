# -*- test-case-name: tests.test_service,tests.test_tap,tests.system.test_shutdown -*-
"""
The service: listening, the private thread pool, and an orderly stop.

Stopping is one sequence, in one C{stopService}: stop listening, let the
requests in flight finish (bounded by the shutdown timeout), close what is
left, and only then stop the thread pool, whose queued work would otherwise
run with nobody waiting for it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet.defer import (
    Deferred,
    DeferredList,
    TimeoutError,
    ensureDeferred,
    maybeDeferred,
)
from twisted.internet.interfaces import (
    IListeningPort,
    IReactorCore,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.python.threadpool import ThreadPool

from hello_service import __version__
from hello_service.answers.answers import Answerer
from hello_service.answers.responders import (
    ConcurrentResponder,
    ParallelResponder,
    Responder,
)
from hello_service.configuration.certificates import ReloadableCertificate
from hello_service.configuration.config import Config
from hello_service.configuration.listening import (
    describeAddress,
    endpointKind,
    listenAll,
)
from hello_service.connection.accesslog import (
    FORMATS,
    AccessLog,
    LineWriter,
    NoAccessLog,
)
from hello_service.connection.http3.settings import HTTP3Settings
from hello_service.connection.limits import (
    BY_DESCRIPTORS,
    ConnectionLimiter,
    descriptorLimiter,
    raiseDescriptorLimit,
)
from hello_service.connection.protocol import HelloFactory
from hello_service.http.counting import Figures, Gauges
from hello_service.http.pages import PageError, loadPages
from hello_service.http.proxytrust import TrustedProxies, parseTrusted
from hello_service.operations.lognames import NamedLogger
from hello_service.operations.notify import ServiceManager, statusLine
from hello_service.operations.operations import Operations
from hello_service.operations.statuspage import ProcessStatus, ServiceStatus
from hello_service.operations.vitals import processFigures

if TYPE_CHECKING:
    from hello_service.connection.http3.listening import QuicListeners


def counted(count: int, noun: str) -> str:
    """
    C{1 connection}, C{2 connections}: a count as a log line says it.
    """
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class HelloService(Service):
    """
    Serves the hello factory on every endpoint it is given.
    """

    log = NamedLogger("hello_service.service.HelloService")

    #: How many files this process may open once it serves: by default the
    #: soft limit is raised to the hard limit first, since a server holds a
    #: descriptor per client.  (The tests' services only read the limit, so
    #: that starting one does not change the test process.)
    descriptorLimit = staticmethod(raiseDescriptorLimit)

    def __init__(
        self,
        endpoints: Sequence[tuple[str, IStreamServerEndpoint]],
        factory: HelloFactory,
        reactor: IReactorCore,
        threadPool: ThreadPool | None = None,
        shutdownTimeout: float = 30.0,
        maxConnections: int = 0,
        admin: tuple[str, IStreamServerEndpoint] | None = None,
        drainDelay: float = 0.0,
        pagesDirectory: Path | None = None,
        manager: ServiceManager | None = None,
        certificates: Sequence[ReloadableCertificate] = (),
        http3: HTTP3Settings | None = None,
        worker: int | None = None,
        datagrams: Sequence[tuple[str, int, int]] = (),
    ) -> None:
        """
        @param maxConnections: the connections served at once (0: as many
            as the descriptor limit allows).
        @param admin: where to serve the admin endpoint (L{hello_service.operations.admin}).
        @param drainDelay: how long, once told to stop, to keep serving while
            C{/ready} answers 503, before the drain starts.
        @param pagesDirectory: where SIGHUP reads the pages again from.
        @param manager: the service manager told when the service is ready,
            reloads and stops (systemd's C{$NOTIFY_SOCKET}), if any.
        @param certificates: the certificates of the C{ssl:} listeners,
            which SIGHUP reloads.
        @param http3: how HTTP/3 is served beside each C{ssl:} listener,
            or C{None} if it is not.
        @param worker: this worker's slot (C{--workers}), which its QUIC
            connection IDs carry.
        @param datagrams: in a worker, the UDP sockets its supervisor bound
            for HTTP/3: by C{ssl:} description, descriptor and family.
        """
        #: Where to listen: each endpoint with the description it came from.
        self.endpoints = list(endpoints)
        self.factory = factory
        self.threadPool = threadPool
        self.shutdownTimeout = shutdownTimeout
        self.maxConnections = maxConnections
        self.ports: list[IListeningPort] = []
        self._started = reactor.seconds()  # type: ignore[attr-defined]
        self._reactor = reactor
        self._lastFullWarning: float | None = None
        self._pagesDirectory = pagesDirectory
        self.certificates = list(certificates)
        self.quic: QuicListeners | None = None
        if http3 is not None:
            from hello_service.connection.http3.listening import QuicListeners

            self.quic = QuicListeners(factory, http3, reactor, worker)
        self._datagrams = {
            description: (fd, family) for description, fd, family in datagrams
        }
        #: The operator's side: signals, lag, readiness, the admin site, the
        #: service manager (nobody, unless systemd asks).  SIGHUP reloads,
        #: SIGUSR1 reopens the access log.
        self.operations = Operations(
            reactor,
            manager or ServiceManager(None, reactor),  # type: ignore[arg-type]
            {
                signal.SIGHUP: (
                    "reloading the pages and the certificates, and reopening the "
                    "access log",
                    self.reload,
                ),
                signal.SIGUSR1: ("reopening the access log", factory.accessLog.reopen),
            },
            admin,
            drainDelay,
        )

    def reload(self) -> None:
        """
        Read the pages again (an edited page is served from now on; if they
        cannot be read, the pages loaded before go on being served), the
        certificates of the C{ssl:} listeners likewise (for the handshakes
        to come; open connections go on), and reopen the access log.
        """
        self.operations.manager.reloading()
        for certificate in self.certificates:
            certificate.reload()
        if self._pagesDirectory is not None:
            try:
                pages = loadPages(self._pagesDirectory)
            except PageError as error:
                self.log.error(
                    "pages not reloaded: {error}; still serving the pages loaded before",
                    error=str(error),
                )
            else:
                self.factory.answerer.reload(pages)
        self.factory.accessLog.reopen()
        self.operations.manager.ready()

    def describe(self) -> str:
        """
        The service in the service manager's one line (C{systemctl status}).
        """
        figures = self.figures()
        state = "draining" if self.factory.draining else "serving"
        return statusLine(state, figures, self.operations.rate.update(figures))

    def figures(self) -> Figures:
        """
        The figures of this process, for the admin endpoint.
        """
        factory = self.factory
        limiter = factory.connectionLimiter
        gauges: Gauges = {
            "hello_connections_open": len(factory.connections),
            "hello_http2_connections_open": sum(
                1 for connection in factory.connections if connection.speaksHTTP2
            ),
            "hello_http3_connections_open": sum(
                1 for connection in factory.connections if connection.speaksHTTP3
            ),
            "hello_requests_in_flight": factory.requestsInFlight(),
            "hello_connections_waiting": 0 if limiter is None else limiter.waiting,
        }
        pool = self.threadPool
        if pool is not None:
            gauges["hello_threadpool_busy"] = len(pool.working)
            # The work waiting for a thread: ThreadPool.q, the public name
            # Twisted keeps for the queue it once had (its qsize is the
            # team's backlog).
            gauges["hello_threadpool_queued"] = pool.q.qsize()
        figures = factory.counts.figures(**gauges)
        if limiter is not None:
            figures["refusals"]["connection_limit"] += limiter.timesFull
        figures["process"] = {"lag": self.operations.lag.seconds, **processFigures()}
        figures["certificates"] = {c.description: c.expires for c in self.certificates}
        return figures

    def serviceStatus(self) -> ServiceStatus:
        """
        This process as the status page shows it: one process, serving.
        """
        state = (
            "draining"
            if self.factory.draining
            or (self.running and not self.operations.readiness.ready)
            else "serving"
            if self.running
            else "starting"
        )
        figures = self.figures()
        main = ProcessStatus(
            name="main",
            serves=True,
            state=state,
            pid=os.getpid(),
            started=self._started,
            figures=figures,
        )
        return ServiceStatus(
            version=__version__,
            pid=os.getpid(),
            mode=self.factory.answerer.mode,
            state=state,
            ready=self.operations.readiness.ready,
            started=self._started,
            workers=1,
            processes=[main],
            figures=figures,
        )

    def privilegedStartService(self) -> None:
        """
        Listen while still privileged, so low ports work with C{--uid}.
        """
        super().privilegedStartService()  # type: ignore[no-untyped-call]
        self._listen()

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        if not self.ports:
            self._listen()
        self._started = self._reactor.seconds()  # type: ignore[attr-defined]
        self.operations.start(self.describe)
        if self.threadPool is not None:
            self.threadPool.start()
        self.operations.serving()
        limiter = self.factory.connectionLimiter
        self.log.info(
            "hello_service serving on {addresses} ({mode} mode{threads}; {limit})"
            "{admin}",
            admin=self.operations.admin.described(),
            addresses=", ".join(
                [
                    describeAddress(description, port)
                    for (description, _), port in zip(
                        self.endpoints, self.ports, strict=True
                    )
                ]
                + ([self.quic.described()] if self.quic is not None else [])
            ),
            mode=self.factory.answerer.mode,
            threads=(
                f", {self.threadPool.max} threads"
                if self.threadPool is not None
                else ""
            ),
            limit=(
                "unlimited connections"
                if limiter is None
                else f"at most {counted(limiter.maximum, 'connection')}, by {limiter.reason}"
            ),
        )

    def _warnFull(self) -> None:
        """
        Accepting paused at the descriptor ceiling: say so, once a minute at
        most, since a server under sustained load would say it constantly.
        """
        now = self._reactor.seconds()  # type: ignore[attr-defined]
        if self._lastFullWarning is None or now - self._lastFullWarning >= 60:
            self._lastFullWarning = now
            self.log.warn(
                "{count} connections reach the file descriptor limit: accepting "
                "pauses until some close (raise `ulimit -n` to serve more)",
                count=self.factory.connectionLimiter.maximum,  # type: ignore[union-attr]
            )

    def _limitConnections(self) -> ConnectionLimiter | None:
        """
        Give the factory its connection limiter, for C{--max-connections}
        and the descriptor limit, as the process starts serving.
        """
        limiter = descriptorLimiter(self.maxConnections, self.descriptorLimit())
        if limiter is not None and limiter.reason == BY_DESCRIPTORS:
            limiter.onFull = self._warnFull
        self.factory.connectionLimiter = limiter
        return limiter

    def _listen(self) -> None:
        """
        Listen on every description, with the connection limit.
        """
        limiter = self._limitConnections()
        self.ports = listenAll(self.endpoints, self.factory)
        self._listenQuic()
        self.operations.admin.listen(
            self.figures, self._closePorts, status=self.serviceStatus
        )
        if limiter is not None:
            for port in self.ports:
                limiter.addPort(port)  # type: ignore[arg-type]

    def _listenQuic(self) -> None:
        """
        HTTP/3 on the UDP port of each C{ssl:} listener (C{--http3}).
        """
        if self.quic is None:
            return
        certificates = {c.description: c for c in self.certificates}
        for (description, _), port in zip(self.endpoints, self.ports, strict=True):
            if endpointKind(description) == "ssl":
                self.quic.listen(
                    port.getHost(),
                    certificates[description].forQuic,
                    self._datagrams.get(description),
                )

    def _closePorts(self) -> None:
        for port in self.ports:
            port.stopListening()
        self.ports = []

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        return ensureDeferred(self._stop())

    async def _stop(self) -> None:
        # From now on every answer closes its connection, while the drain
        # delay (if any) keeps the listener open for the clients that
        # reconnect until the load balancer has taken this instance out.
        await self.operations.stopBeingReady(then=self.factory.stopKeepingAlive)
        ports, self.ports = self.ports, []
        if self.quic is not None:
            self.quic.closeToNew()
        limiter = self.factory.connectionLimiter
        for port in ports:
            if limiter is not None:
                limiter.removePort(port)  # type: ignore[arg-type]
        await DeferredList([maybeDeferred(port.stopListening) for port in ports])
        factory = self.factory
        connections = len(factory.connections)
        inFlight = factory.requestsInFlight()
        self.log.info(
            "stopped listening; draining {connectionsText} with "
            "{inFlightText} in flight (at most {timeout} s)",
            connections=connections,
            inFlight=inFlight,
            connectionsText=counted(connections, "connection"),
            inFlightText=counted(inFlight, "request"),
            timeout=self.shutdownTimeout,
        )
        clock: IReactorTime = self._reactor  # type: ignore[assignment]
        started = clock.seconds()
        drained = factory.drain()
        drained.addTimeout(self.shutdownTimeout, clock)
        try:
            await drained
        except TimeoutError:
            left = list(factory.connections)
            self.log.warn(
                "shutdown timeout: closing {countText} still open",
                count=len(left),
                countText=counted(len(left), "connection"),
            )
            closed = factory.drain()
            for connection in left:
                connection.abort()
            await closed
        else:
            self.log.info(
                # Formatted here, not by a format spec: a worker's events
                # reach the main process as JSON, which keeps only the text.
                "drained {inFlightText} in {elapsed} s",
                inFlight=inFlight,
                inFlightText=counted(inFlight, "request"),
                elapsed=f"{clock.seconds() - started:.2f}",
            )
        if self.quic is not None:
            await self.quic.stopListening()
        factory.accessLog.close()
        if self.threadPool is not None:
            self.threadPool.stop()
        await self.operations.close()


def accessLogFor(config: Config, clock: Any) -> AccessLog | NoAccessLog:
    """
    The access log C{config} asks for: off; its own file (plain lines, as
    Apache writes them); the twistd log's standard output or file, as whole
    lines stamped as twistd stamps its own (a worker writes to the
    supervisor's standard output through an inherited descriptor); or, where
    hello cannot write to the twistd log itself, log events.

    @raise OSError: if a file cannot be opened to append.
    """
    if config.accessLogOff:
        return NoAccessLog()
    format = FORMATS[config.accessLogFormat](config.worker)
    writer = None
    if config.accessLog is not None:
        writer = LineWriter(path=config.accessLog)
    elif config.twistdLog == "-":
        descriptor = config.accessLogDescriptor
        # Standard output is descriptor 1, where twistd's own lines go.
        writer = LineWriter(
            descriptor=1 if descriptor is None else descriptor, prefixed=True
        )
    elif config.twistdLog is not None:
        writer = LineWriter(path=config.twistdLog, prefixed=True)
    return AccessLog(clock, writer, format)


def buildService(config: Config, reactor: Any) -> HelloService:
    """
    The service of one process serving C{config}: its concurrency model,
    answer layer, factory and access log, wired together.
    """
    threadPool = None
    responder: Responder
    if config.parallel:
        threadPool = ThreadPool(0, config.threads, "hello_service")
        responder = ParallelResponder(
            config.pages, config.sleep, reactor, threadPool, config.cacheControl
        )
    else:
        responder = ConcurrentResponder(
            config.pages, config.sleep, reactor, config.cacheControl
        )
    factory = HelloFactory(
        Answerer(responder, reactor),
        reactor,
        requestLimits=config.requestLimits,
        timeouts=config.timeouts,
        accessLog=accessLogFor(config, reactor),
        trustedProxies=TrustedProxies(parseTrusted(config.forwardedAllowIps)),
        http2=config.http2,
    )
    return HelloService(
        config.endpoints,
        factory,
        reactor,
        threadPool=threadPool,
        shutdownTimeout=config.shutdownTimeout,
        maxConnections=config.maxConnections,
        admin=config.admin,
        drainDelay=config.drainDelay,
        pagesDirectory=config.pages.directory,
        manager=ServiceManager.fromEnvironment(os.environ, reactor),
        certificates=config.certificates,
        http3=config.http3,
        worker=None if config.worker is None else config.worker[0],
        datagrams=config.datagrams,
    )
