# -*- test-case-name: tests.test_protocol,tests.test_http2,tests.system.test_closing -*-
"""
A L{HelloProtocol} per connection, made by a L{HelloFactory}: the
C{handle_connection} of the original, as reactor events.

The connection owns what every protocol shares, each rule written once:
the transport; how answers reach it and whether it reads
(L{hello_service.connection.flow}); its place under the connection limit; its
deadlines (L{hello_service.connection.deadlines}); and every way it ends (an orderly
close, a lingering close, an abort, the drain), on every transport.  What
the bytes mean is its session's (L{hello_service.connection.session}):
HTTP/1.1 (L{hello_service.connection.http1}) or HTTP/2
(L{hello_service.connection.http2.session}), picked at the first bytes, by
TLS's ALPN or by the HTTP/2 preface, as Twisted's
C{_GenericHTTPChannelProtocol} swaps its channel behind one object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IProtocolNegotiationFactory,
    IPushProducer,
    IReactorTime,
    ISSLTransport,
    ITransport,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from hello_service.connection.accesslog import AccessLog, ExchangeRecorder, NoAccessLog
from hello_service.connection.deadlines import (
    DEFAULT_TIMEOUTS,
    Deadline,
    DeadlineQueue,
    DeadlineTimer,
    Timeouts,
)
from hello_service.connection.flow import (
    FlowControl,
    ResponseWriter,
    directSocket,
    dropArrivedInput,
)
from hello_service.connection.http1 import HTTP1Session
from hello_service.connection.http2 import PREFACE
from hello_service.connection.http2.defences import HTTP2_DEFAULTS, HTTP2Settings
from hello_service.connection.peers import NO_HOST, PeerNames
from hello_service.connection.session import Served, Session
from hello_service.http.counting import RequestCounts
from hello_service.http.proxytrust import TrustedProxies
from hello_service.http.requests import DEFAULT_LIMITS, RequestLimits

if TYPE_CHECKING:
    from hello_service.answers.answers import Answerer
    from hello_service.connection.limits import ConnectionLimiter

#: The default: no peer's forwarding headers are believed.
TRUST_NOBODY = TrustedProxies()

_IDLE = Deadline.IDLE
_WRITE = Deadline.WRITE


@implementer(IPushProducer)
class HelloProtocol(Protocol):
    """
    One connection: its transport, its writer and flow control, its place
    under the connection limit, its deadlines and its end, whatever
    protocol its L{Session} speaks.
    """

    factory: HelloFactory

    # The state of a new connection, as class attributes: an instance holds
    # only what differs, which keeps an idle connection small and cheap to
    # make.
    #: What the connection speaks, from its first bytes on.
    _session: Session | None = None
    #: The connection's peer, as the access log names it: read with the
    #: first bytes, once a PROXY header (if any) has named the client.
    peer = NO_HOST
    #: Let in by the connection limit, and served.
    admitted = False
    #: The first bytes, while they may still be the start of the HTTP/2
    #: preface.
    _preface = b""
    #: Not a plain socket (TLS, say): TLS's ALPN may have chosen HTTP/2, and
    #: a close may have TLS to end.  A plain one speaks HTTP/2 only if its
    #: first bytes are the preface, and closes as a socket does.
    _negotiates = False
    #: The C{Alt-Svc} value its answers carry: HTTP/3 on the same port, for
    #: a TLS connection to a port that serves it (C{--http3}).
    altSvc = b""

    def __init__(self, factory: HelloFactory) -> None:
        self.factory = factory

    # Connection life.

    def connectionMade(self) -> None:
        transport: ITransport = self.transport  # type: ignore[assignment]
        factory = self.factory
        #: Whether it reads (L{Link.flow<hello_service.connection.session.Link>}).
        self.flow = flow = FlowControl(transport, self)
        socket = factory.directSocket(transport)
        #: How its answers reach the socket.
        self.writer = ResponseWriter(flow, socket)
        if socket is None:
            self._negotiates = True  # TLS, perhaps, whose ALPN may choose h2
            if factory.altSvc:
                self.altSvc = factory.altSvc.get(
                    getattr(transport.getHost(), "port", 0), b""
                )
        #: How long the client may take, whatever for.
        self.deadline = DeadlineTimer(factory.deadlines, factory.timeouts, self)
        factory.connectionOpened(self)

    def admit(self) -> None:
        """
        Start serving: called when the connection limit lets this
        connection in (at once, unless the limit is reached).  A connection
        held back has read nothing, so it has no session yet.
        """
        self.admitted = True
        self.flow.resumeReading()
        self.deadline.start(_IDLE)

    def hold(self) -> None:
        """
        Read nothing until L{admit}: the connection limit is reached.
        """
        self.flow.pauseReading()

    def dataReceived(self, data: bytes) -> None:
        session = self._session
        if session is None:
            session = self._choose(data)
            if session is None:
                return
            if self._preface:  # what was kept while it might be the preface
                data, self._preface = self._preface + data, b""
        session.dataReceived(data)

    def _choose(self, data: bytes) -> Session | None:
        """
        The session the first bytes ask for: HTTP/2 if TLS's ALPN chose
        C{h2} or they are its preface, else HTTP/1.1; or C{None} while they
        may still be the start of the preface (the header timeout runs from
        the first byte, as for an HTTP/1.1 request).
        """
        if not data:
            return None  # nothing yet to tell HTTP/1.1 from HTTP/2 by
        factory = self.factory
        if not self._preface:
            self.peer = factory.peerNames.of(self.transport)
        # A transport not written directly may be TLS; the preface starts
        # with P: a plain GET pays one test.
        if factory.http2 is not None and (
            self._negotiates or data[0] == 80 or self._preface  # 80: P
        ):
            seen = self._preface + data
            negotiated = getattr(self.transport, "negotiatedProtocol", None)
            if negotiated == b"h2" or seen[:24] == PREFACE:
                session = self._session = self._http2Session()
                return session
            if len(seen) < 24 and PREFACE.startswith(seen):
                self._preface = seen
                self.deadline.start(Deadline.HEADER)
                return None
        session = self._session = HTTP1Session(self)
        return session

    def _http2Session(self) -> Session:
        # Imported here: the h2 library loads only once a client speaks it.
        from hello_service.connection.http2.session import HTTP2Session

        session = HTTP2Session(self)
        session.start()
        return session

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.deadline.cancel()
        session = self._session
        if session is not None:
            session.connectionLost()
            # The session points back at its connection: let go of it.
            self._session = None
        self.factory.connectionClosed(self)
        # Flow control's producer points back at the connection too.  With
        # both let go, the connection is freed as its last reference goes,
        # not left for the cyclic garbage collector (which spent 0.82 s of a
        # 6 s one-request-per-connection run finding such cycles).
        self.flow.close()

    # What a session uses of its connection (its Link).

    @property
    def speaksHTTP2(self) -> bool:
        """
        Whether its session is HTTP/2's (for the gauges).
        """
        return self._session is not None and not isinstance(self._session, HTTP1Session)

    #: A TCP connection never speaks HTTP/3.
    speaksHTTP3 = False

    # Every way the connection ends, each written once for every protocol
    # and every transport.

    def close(self) -> None:
        """
        End the connection in order: what is written is delivered, then the
        end.  The write-buffer watch is let go first: TLS postpones its
        close while a producer is registered, so a close that kept it would
        leave the connection open for good over C{ssl:} alone.

        A plain socket with nothing buffered closes at once; one with an
        answer still buffered has the write timeout to deliver it.  TLS
        sends its close alert and would then wait for the client's, with no
        bound (a client that has read its answer need not answer it): as
        nginx does, the connection under TLS is closed in order too, at
        once, its buffered bytes (the alert last) still delivered within
        the write timeout.
        """
        self.flow.stopWatching()
        transport = self.transport
        transport.loseConnection()  # type: ignore[union-attr]
        if self.writer.direct:
            self.deadline.stop()
            return
        # A connection that began on a plain socket is not TLS: only the
        # others pay for asking (an interface check costs more than the
        # rest of this method).
        if self._negotiates and ISSLTransport.providedBy(transport):
            transport.transport.loseConnection()  # type: ignore[attr-defined]
        self.deadline.start(_WRITE)

    def closeDroppingInput(self) -> None:
        """
        L{close}, having dropped the input that has already arrived unread:
        for a protocol whose client may send at any moment (HTTP/2's
        acknowledgements and window updates), so that the close of a
        GOAWAY is not turned into a reset by a frame the reactor had not
        read yet (seen when SIGTERM and a client's SETTINGS acknowledgement
        arrived in the same reactor turn).
        """
        dropArrivedInput(self.transport)
        self.close()

    def lingeringClose(self) -> None:
        """
        End the connection in order while the client may still be sending:
        our side ends once the last answer is sent, and what the client
        still sends is read and dropped until it closes or the linger
        timeout ends it.  Closing a socket with unread input makes the
        kernel send a reset, which can destroy the answer before the client
        reads it.  A TCP or UNIX socket (a PROXY wrapper's included) ends
        its writing side alone; TLS sends its close alert and reads on,
        waiting for the client's.
        """
        transport = self.transport
        self.flow.stopWatching()
        if ISSLTransport.providedBy(transport):
            transport.loseConnection()
        else:
            halfClose = getattr(transport, "loseWriteConnection", None)
            if halfClose is None:  # a transport that cannot: a plain close
                self.close()
                return
            halfClose()
        self.flow.resumeReading()
        self.deadline.start(Deadline.LINGER)

    def abort(self) -> None:
        """
        End the connection at once, dropping whatever is unsent.
        """
        self.transport.abortConnection()  # type: ignore[union-attr]

    def closeWhenIdle(self) -> None:
        """
        The service drains: the session lets what is in flight finish and
        ends the connection once nothing is left; a connection that has
        said nothing yet closes after the drain grace.
        """
        session = self._session
        if session is not None:
            session.closeWhenIdle()
        elif not self._preface:
            self.deadline.start(Deadline.DRAIN)

    @property
    def requestsInFlight(self) -> int:
        """
        How many requests are received, in part or whole, and not answered.
        """
        session = self._session
        return 0 if session is None else session.requestsInFlight

    # Flow control: the transport calls these when its write buffer fills
    # up and drains.  A client that does not read gets nothing more read.

    def pauseProducing(self) -> None:
        self.flow.clientStopped()
        self.deadline.hold()
        session = self._session
        if session is not None:
            session.pauseProducing()

    def resumeProducing(self) -> None:
        self.flow.clientReads()
        self.deadline.release()
        session = self._session
        if session is not None:
            session.resumeProducing()
            return
        self.flow.resumeReading()
        if not self._preface:
            self.deadline.start(_IDLE)

    def stopProducing(self) -> None:
        """
        The transport is going away; L{connectionLost} cleans up.
        """

    # Timeouts.

    def deadlinePassed(self, deadline: Deadline) -> None:
        """
        The client took too long (called by the L{DeadlineTimer}).  A client
        that does not read what it is sent, or lingers, ends the same way
        whatever the protocol; the others are the session's to judge.
        """
        if deadline is _WRITE:
            self.factory.counts.refused("write_timeout")
            self.abort()
        elif deadline is Deadline.LINGER:
            self.abort()
        else:
            # Before its first request, a connection is HTTP/1.1's to judge
            # (a partial preface that stalls is a request too slow).
            session = self._session
            if session is None:
                session = self._session = HTTP1Session(self)
            session.deadlinePassed(deadline)


@implementer(IProtocolNegotiationFactory)
class HelloFactory(Factory):
    """
    Makes a L{HelloProtocol} per connection and holds what they share: the
    answer layer, the request limits, the timeouts, the connection limiter, the
    access log and the set of open connections (for draining at shutdown).
    """

    protocol = HelloProtocol  # type: ignore[assignment]
    noisy = False
    #: Which transports answers may be sent straight to (a test may give
    #: its fake transport a fake socket here).
    directSocket = staticmethod(directSocket)

    def __init__(
        self,
        answerer: Answerer,
        clock: IReactorTime,
        requestLimits: RequestLimits = DEFAULT_LIMITS,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        connectionLimiter: ConnectionLimiter | None = None,
        accessLog: AccessLog | NoAccessLog | None = None,
        trustedProxies: TrustedProxies = TRUST_NOBODY,
        http2: HTTP2Settings | None = HTTP2_DEFAULTS,
    ) -> None:
        """
        @param http2: how HTTP/2 is served, or C{None} not to serve it.
        """
        self.answerer = answerer
        self.http2 = http2
        self.clock = clock
        self.requestLimits = requestLimits
        self.timeouts = timeouts
        #: Every connection's deadline, checked by one delayed call.
        self.deadlines = DeadlineQueue(clock)
        self.connectionLimiter = connectionLimiter
        self.accessLog: AccessLog | NoAccessLog = (
            AccessLog(clock) if accessLog is None else accessLog
        )
        #: Whether the access log wants each request's first-byte time (the
        #: JSON format's duration): only then is the clock read per read.
        self.timesRequests = self.accessLog.timed
        #: What the metrics count, as plain numbers.
        self.counts = RequestCounts()
        #: What each answered exchange leaves behind, for every protocol
        #: (whose forwarding headers name the client is the recorder's).
        self.exchanges = ExchangeRecorder(
            self.counts.answered, self.accessLog, trustedProxies, clock
        )
        #: Every connection open: TCP ones, and QUIC ones (C{--http3}).
        self.connections: set[Served] = set()
        #: By TLS port, the C{Alt-Svc} value that says HTTP/3 is served
        #: on the same port's UDP (C{--http3}).
        self.altSvc: dict[int, bytes] = {}
        self.peerNames = PeerNames()
        self.draining = False
        self._drained: list[Deferred[None]] = []

    def acceptableProtocols(self) -> list[bytes]:
        """
        What we speak, for TLS's ALPN: HTTP/2 first, then HTTP/1.1 (only
        HTTP/1.1 with HTTP/2 off).  Without an answer a client offering ALPN,
        as curl and browsers do, gets a TLS alert.
        """
        return [b"http/1.1"] if self.http2 is None else [b"h2", b"http/1.1"]

    def buildProtocol(self, addr: IAddress | None) -> HelloProtocol:  # type: ignore[override]
        return HelloProtocol(self)

    def connectionOpened(self, protocol: HelloProtocol) -> None:
        """
        A connection was made: admit it, or hold it if the limit is reached.
        """
        self.connections.add(protocol)
        self.counts.connections += 1
        limiter = self.connectionLimiter
        if limiter is None:
            protocol.admit()
        elif not limiter.acquire(protocol):
            protocol.hold()

    def hasPlace(self) -> bool:
        """
        Whether the connection limit has a place for one more connection
        now: a QUIC client cannot be held unread in a line, as a TCP one
        is, since its packets keep coming; it is refused instead.
        """
        limiter = self.connectionLimiter
        return limiter is None or limiter.hasPlace

    def quicConnectionAdmitted(self, connection: Served) -> None:
        """
        A QUIC connection opens, in a place L{hasPlace} said there was.
        """
        limiter = self.connectionLimiter
        if limiter is None:
            connection.admit()
        else:
            limiter.acquireNow(connection)
        self.connections.add(connection)
        self.counts.connections += 1

    def connectionClosed(self, protocol: Served) -> None:
        """
        A connection is gone: free its place.
        """
        self.connections.discard(protocol)
        if self.connectionLimiter is not None:
            self.connectionLimiter.release(protocol)
        if not self.connections and self._drained:
            drained, self._drained = self._drained, []
            for waiting in drained:
                waiting.callback(None)

    def requestsInFlight(self) -> int:
        """
        How many requests all connections have received and not answered.
        """
        return sum(protocol.requestsInFlight for protocol in self.connections)

    def stopKeepingAlive(self) -> None:
        """
        Stop keeping connections alive: every answer from now on says
        C{Connection: close} and closes its connection, and an idle one is
        closed after the drain grace.
        """
        self.draining = True
        for protocol in list(self.connections):
            protocol.closeWhenIdle()

    def drain(self) -> Deferred[None]:
        """
        L{stopKeepingAlive}, and wait for the connections to close.

        @return: a C{Deferred} that fires when no connection is left.
        """
        self.stopKeepingAlive()
        waiting: Deferred[None] = Deferred()
        if self.connections:
            self._drained.append(waiting)
        else:
            waiting.callback(None)
        return waiting
