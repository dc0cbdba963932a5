# -*- test-case-name: tests.test_protocol -*-
"""
A L{HelloProtocol} per connection, made by a L{HelloFactory}: the
C{handle_connection} of the original, as reactor events.

The protocol only moves bytes: it feeds what arrives to a
L{RequestReader}, asks the factory's L{Answerer} for each request's answer
(it holds no HTTP rule of its own), and writes the answers strictly in the
order the requests came, even when an earlier one is still waiting (on a
timer or in a thread).  Its other
jobs each have an object of their own: whether it reads and how its answers
are written (L{hello_service.flow}), and how long the client may take
(L{hello_service.deadlines}).
"""

from __future__ import annotations

from collections import deque
from enum import Enum
from typing import TYPE_CHECKING

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import (
    IAddress,
    IProtocolNegotiationFactory,
    IPushProducer,
    IReactorTime,
    ITransport,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from hello_service.accesslog import AccessLog, NoAccessLog
from hello_service.counting import RequestCounts
from hello_service.deadlines import (
    DEFAULT_TIMEOUTS,
    Deadline,
    DeadlineQueue,
    DeadlineTimer,
    Timeouts,
)
from hello_service.flow import FlowControl, ResponseWriter, directSocket
from hello_service.http2.connection import HTTP2Connection
from hello_service.http2.defences import HTTP2_DEFAULTS, HTTP2Settings
from hello_service.http2.framing import PREFACE
from hello_service.peers import NO_HOST, PeerNames
from hello_service.proxytrust import TrustedProxies
from hello_service.requests import (
    DEFAULT_LIMITS,
    UNPARSED,
    HTTPError,
    Request,
    RequestLimits,
    RequestReader,
)
from hello_service.responses import CONTINUE, Response
from hello_service.statuslines import INTERNAL_ERROR, REQUEST_TIMEOUT

if TYPE_CHECKING:
    from hello_service.answers import Answerer
    from hello_service.limits import ConnectionLimiter

#: The default: no peer's forwarding headers are believed.
TRUST_NOBODY = TrustedProxies()


#: Requests of one connection being answered at once before we stop reading
#: more of them: a client pipelining faster than we answer waits in TCP.
MAX_PIPELINED = 32


class _Pending:
    """
    A request whose answer is not written yet, in its place in the line.
    """

    __slots__ = ("request", "response", "deferred", "since", "began")

    def __init__(self, request: Request, since: float, began: float) -> None:
        self.request = request
        self.response: Response | None = None
        self.deferred: Deferred[Response] | None = None
        #: When the request was complete, for the duration metrics.
        self.since = since
        #: When its first byte was received, for the access log.
        self.began = began


class Phase(Enum):
    """
    Where a connection is in its life.
    """

    #: Reading requests and answering them.
    READING = "reading"
    #: No request after those received will be answered (the last one asked
    #: to close, or broke a rule): answering what is queued, reading no more.
    FINISHING = "finishing"
    #: The last answer is written, or the connection is gone.
    CLOSED = "closed"
    #: The connection speaks HTTP/2: its L{HTTP2Connection} has it.
    HTTP2 = "http2"


# As module globals, for the checks on every request (see deadlines.py).
_IDLE = Deadline.IDLE
_HEADER = Deadline.HEADER
_WRITE = Deadline.WRITE
_READING = Phase.READING
_FINISHING = Phase.FINISHING
_CLOSED = Phase.CLOSED
_HTTP2 = Phase.HTTP2


@implementer(IPushProducer)
class HelloProtocol(Protocol):
    """
    One HTTP/1.1 connection: its requests, answered in the order they came.

    It holds one small object per other job: L{FlowControl} (whether it
    reads), L{ResponseWriter} (how answers reach the socket) and
    L{DeadlineTimer} (how long the client may take).
    """

    factory: HelloFactory
    log = Logger()

    # The state of a new connection, as class attributes: an instance holds
    # only what differs, which keeps an idle connection small and cheap to
    # make.
    _phase = _READING
    _reader: RequestReader | None = None
    _queue: deque[_Pending] | None = None
    #: When the first byte of the request being received came.
    _began = 0.0
    #: The connection's peer, as the access log names it: read with the
    #: first bytes, once a PROXY header (if any) has named the client.
    _peer = NO_HOST
    #: Let in by the connection limit, and served.
    admitted = False
    #: The HTTP/2 side, once the first bytes chose HTTP/2.
    _http2: HTTP2Connection | None = None
    #: The first bytes, while they may still be the start of the HTTP/2
    #: preface.
    _preface = b""
    #: Not a plain socket (TLS, say): TLS's ALPN may have chosen HTTP/2.  A
    #: plain one speaks HTTP/2 only if its first bytes are the preface.
    _negotiates = False

    def __init__(self, factory: HelloFactory) -> None:
        self.factory = factory

    # Connection life.

    def connectionMade(self) -> None:
        transport: ITransport = self.transport  # type: ignore[assignment]
        factory = self.factory
        self._flow = flow = FlowControl(transport, self)
        socket = factory.directSocket(transport)
        self._writer = ResponseWriter(flow, socket)
        if socket is None:
            self._negotiates = True  # TLS, perhaps, whose ALPN may choose h2
        self._deadline = DeadlineTimer(factory.deadlines, factory.timeouts, self)
        factory.connectionOpened(self)

    def admit(self) -> None:
        """
        Start serving: called when the connection limit lets this
        connection in (at once, unless the limit is reached).
        """
        self.admitted = True
        if self._phase is _READING:
            self._flow.resumeReading()
        self._deadline.start(_IDLE)

    def hold(self) -> None:
        """
        Read nothing until L{admit}: the connection limit is reached.
        """
        self._flow.pauseReading()

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self._http2 is not None:
            self._http2.connectionLost()
        self._phase = _CLOSED
        self._deadline.cancel()
        queue = self._queue
        self._queue = None
        if queue:
            for pending in queue:
                if pending.deferred is not None:
                    pending.deferred.cancel()
        self.factory.connectionClosed(self)
        # The helpers point back at the connection (and a parser at its
        # reader): let go of those references, so that the connection is
        # freed as its last reference goes, not left for the cyclic garbage
        # collector (which spent 0.82 s of a 6 s one-request-per-connection
        # run finding them, 0.07 s once they were gone).
        self._flow.close()
        reader = self._reader
        if reader is not None:
            reader.close()

    # Reading requests.

    def dataReceived(self, data: bytes) -> None:
        if self._phase is not _READING:
            if self._phase is _HTTP2:
                self._http2.dataReceived(data)  # type: ignore[union-attr]
            return
        reader = self._reader
        if reader is None:
            if not data:
                return  # nothing yet to tell HTTP/1.1 from HTTP/2 by
            self._peer = self.factory.peerNames.of(self.transport)
            # HTTP/2 is chosen by TLS (a transport not written directly) or
            # by the preface, which starts with P: a plain GET pays one test.
            if (
                (self._negotiates or data[0] == 80 or self._preface)  # 80: P
                and self.factory.http2 is not None
                and self._speaksHTTP2(self._preface + data)
            ):
                return
            reader = self._reader = RequestReader(self.factory.requestLimits)
        # When the first byte of each request came, for access logs that
        # time requests: in this read, unless one was begun in an earlier
        # read; then the first request completed here began then.
        if self.factory.timesRequests:
            now = self.factory.clock.seconds()
            began = self._began if reader.midRequest else now
        else:
            now = began = 0.0
        requests = reader.feed(data)
        for request in requests:
            self._dispatch(request, began)
            if self._phase is not _READING:
                return
            began = now
        if reader.midRequest:
            self._began = began
        if reader.continueWanted:
            reader.continueWanted = False
            if not self._queue:  # behind other answers, the client goes ahead
                self._writer.write(CONTINUE)
        if reader.error is not None:
            self._refuse(reader.error)
        elif not self._queue:
            # _awaitClient, written out: this is the keep-alive path.
            if reader.midRequest:
                self._deadline.start(_HEADER, bool(requests))
            else:
                self._deadline.start(_IDLE)

    def _speaksHTTP2(self, data: bytes) -> bool:
        """
        Whether the connection's first bytes choose HTTP/2 (TLS's ALPN chose
        C{h2}, or they are the preface), and if so hand the connection over
        to an L{HTTP2Connection}; or wait, while they may still be the start
        of the preface.
        """
        negotiated = getattr(self.transport, "negotiatedProtocol", None)
        if negotiated != b"h2" and data[:24] != PREFACE:
            if len(data) < 24 and PREFACE.startswith(data):
                # Perhaps HTTP/2, perhaps an HTTP/1.1 request begun: the
                # header timeout runs from this first byte, as for one.
                self._preface = data
                self._deadline.start(_HEADER)
                return True
            if self._preface:
                self._preface = b""
                self.dataReceived(data)  # as HTTP/1.1, from its first byte
                return True
            return False
        self._preface = b""
        self._phase = _HTTP2
        self._http2 = HTTP2Connection(self.factory, self)
        self._http2.begin(data)
        return True

    # What the HTTP/2 side uses of the connection it took over.

    @property
    def speaksHTTP2(self) -> bool:
        return self._http2 is not None

    @property
    def peer(self) -> str:
        """
        The peer, as the access log names it.
        """
        return self._peer

    @property
    def deadline(self) -> DeadlineTimer:
        return self._deadline

    def writeRaw(self, data: bytes) -> None:
        """
        Write bytes as they are (HTTP/2 frames).
        """
        self._writer.write(data)

    def _dispatch(self, request: Request, began: float) -> None:
        answer = self.factory.answerer.answer(request)
        queue = self._queue
        if type(answer) is Response and not queue:
            self._send(request, answer, began)  # and closes, if it said so
            return
        if not request.keepAlive:
            self._stopReading()  # nothing after it will be answered
        pending = _Pending(request, self.factory.clock.seconds(), began)
        if type(answer) is Response:
            pending.response = answer
        else:
            pending.deferred = answer  # type: ignore[assignment]
            answer.addCallbacks(  # type: ignore[union-attr]
                self._ready,
                self._failed,
                callbackArgs=(pending,),
                errbackArgs=(pending,),
            )
            if pending.response is not None:
                # Answered synchronously after all; still wait our turn.
                pending.deferred = None
        if queue is None:
            queue = self._queue = deque()
        queue.append(pending)
        self._deadline.stop()
        if len(queue) >= MAX_PIPELINED:
            self._flow.pauseReading()
        self._flush()

    def _refuse(self, error: HTTPError) -> None:
        self.factory.counts.refusedWith(error.status)
        response = self.factory.answerer.refuse(error)
        now = self.factory.clock.seconds()
        reader = self._reader
        began = self._began if reader is not None and reader.midRequest else now
        if self._queue:
            self._stopReading()
            pending = _Pending(UNPARSED, now, began)
            pending.response = response
            self._queue.append(pending)
        else:
            self._send(UNPARSED, response, began)  # then lingers, reading to drop

    def _stopReading(self) -> None:
        self._phase = _FINISHING
        self._flow.pauseReading()

    # Writing responses, in order.

    def _ready(self, response: Response, pending: _Pending) -> None:
        pending.response = response
        pending.deferred = None
        if self._queue:
            self._flush()

    def _failed(self, reason: Failure, pending: _Pending) -> None:
        pending.deferred = None
        if reason.check(CancelledError):
            # The client went away: its work is abandoned, nothing to say.
            return
        self.log.error(
            "request {request!r} failed: {error}",
            request=pending.request,
            error=reason.getErrorMessage(),
        )
        pending.request.keepAlive = False
        pending.response = self.factory.answerer.refuse(
            HTTPError(INTERNAL_ERROR, reason.getErrorMessage())
        )
        if self._queue:
            self._flush()

    def _flush(self) -> None:
        queue = self._queue
        if queue and queue[0].response is not None:
            now = self.factory.clock.seconds()
            observeWait = self.factory.counts.observeWait
        while queue and queue[0].response is not None:
            pending = queue.popleft()
            observeWait(now - pending.since, pending.response.kind)  # type: ignore[union-attr]
            self._send(pending.request, pending.response, pending.began)  # type: ignore[arg-type]
            if self._phase is _CLOSED:
                return
        if queue or self._phase is not _READING:
            return
        if not self._flow.clientNotReading:
            self._flow.resumeReading()
        self._awaitClient()

    def _send(self, request: Request, response: Response, began: float) -> None:
        factory = self.factory
        keepAlive = request.keepAlive and not factory.draining
        data = response.toBytes(request, keepAlive)
        factory.answered[response.kind] += 1
        factory.accessLog.record(
            self._peer
            if request.forwarding is None
            else factory.trustedProxies.clientOf(self._peer, request.forwarding),
            request,
            response.status,
            0 if request.method == b"HEAD" else len(response.body),
            began,
            factory.clock.seconds() if factory.timesRequests else 0.0,
        )
        if keepAlive:
            self._writer.write(data)
            return
        self._writer.writeLast(data)
        if request is UNPARSED:
            self._lingeringClose()
        else:
            self._disconnect()

    def _disconnect(self) -> None:
        """
        Close once what is written has been sent.  Work still pending for
        later requests is cancelled when the connection is lost.
        """
        self._phase = _CLOSED
        self._flow.stopWatching()
        self.transport.loseConnection()  # type: ignore[union-attr]
        if self._writer.direct:
            self._deadline.stop()
        else:
            # The transport may still hold data for a client that does not
            # read it; loseConnection would wait for it forever.
            self._deadline.start(_WRITE)

    def _lingeringClose(self) -> None:
        """
        Close our side once the refusal is sent, but keep reading (and
        dropping) for a moment: closing a socket with unread input makes the
        kernel send a reset, which can destroy the refusal before the client
        reads it.  The client closing, or the linger timeout, ends it.
        """
        transport = self.transport
        if self.factory.directSocket(transport) is None:
            # TLS, or a test's transport: a plain close.  (TLS cannot read
            # on after closing its writing side.)
            self._disconnect()
            return
        self._phase = _CLOSED
        self._flow.stopWatching()
        transport.loseWriteConnection()  # type: ignore[union-attr]
        self._flow.resumeReading()
        self._deadline.start(Deadline.LINGER)

    def closeWhenIdle(self) -> None:
        """
        The service drains: close the connection if it stays idle for the
        drain grace (L{Timeouts.drain}).  Closing it at once could cross a
        request the client is already sending; one that arrives is answered
        with C{Connection: close}.
        """
        if self._http2 is not None:
            self._http2.closeWhenIdle()
            return
        if self._queue or self._phase is not _READING:
            return
        reader = self._reader
        if reader is None or not reader.midRequest:
            self._deadline.start(Deadline.DRAIN)

    def closeIfIdle(self) -> None:
        """
        Close the connection if no request is being received or answered
        on it: the idle timeout or the drain grace passed.
        """
        if self._idle():
            self._disconnect()

    def _idle(self) -> bool:
        """
        Whether no request is being received or answered on the connection.
        """
        if self._queue or self._phase is not _READING:
            return False
        reader = self._reader
        return reader is None or not reader.midRequest

    @property
    def requestsInFlight(self) -> int:
        """
        How many requests are received, in part or whole, and not answered.
        """
        if self._http2 is not None:
            return self._http2.streamsInFlight
        reader = self._reader
        partial = 1 if reader is not None and reader.midRequest else 0
        return (len(self._queue) if self._queue else 0) + partial

    # Flow control: the transport calls these when its write buffer fills
    # up and drains.  A client that does not read gets nothing more read.

    def pauseProducing(self) -> None:
        self._flow.clientStopped()
        self._deadline.hold()
        if self._http2 is not None:
            self._http2.pauseProducing()

    def resumeProducing(self) -> None:
        self._flow.clientReads()
        self._deadline.release()
        if self._phase is not _READING:
            if self._http2 is not None:
                self._flow.resumeReading()
                self._http2.resumeProducing()
            return
        queue = self._queue
        if queue is not None and len(queue) >= MAX_PIPELINED:
            self._deadline.stop()
            return
        self._flow.resumeReading()
        if queue:
            self._deadline.stop()
        else:
            self._awaitClient()

    def stopProducing(self) -> None:
        """
        The transport is going away; L{connectionLost} cleans up.
        """

    # Timeouts.

    def _awaitClient(self) -> None:
        """
        Nothing is being answered any more: the client has the rest of the
        header timeout to finish a request it started (counted from its
        first byte), or the idle timeout to start one.
        """
        reader = self._reader
        if reader is not None and reader.midRequest:
            self._deadline.start(_HEADER)
        else:
            self._deadline.start(_IDLE)

    def deadlinePassed(self, deadline: Deadline) -> None:
        """
        The client took too long (called by the L{DeadlineTimer}).
        """
        if self._http2 is not None:
            self._http2.deadlinePassed(deadline)
        elif deadline is Deadline.WRITE or deadline is Deadline.LINGER:
            if deadline is Deadline.WRITE:
                self.factory.counts.refused("write_timeout")
            self._phase = _CLOSED
            self.transport.abortConnection()  # type: ignore[union-attr]
        elif deadline is Deadline.HEADER:
            self._refuse(HTTPError(REQUEST_TIMEOUT, "request too slow"))
        elif deadline is Deadline.IDLE:
            if self._idle():
                self.factory.counts.refused("idle_timeout")
                self._disconnect()
        else:
            self.closeIfIdle()


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
        self.answered = self.counts.answered
        self.connections: set[HelloProtocol] = set()
        #: Whose forwarding headers name the client.
        self.trustedProxies = trustedProxies
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
        limiter = self.connectionLimiter
        if limiter is None:
            protocol.admit()
        elif not limiter.acquire(protocol):
            protocol.hold()

    def connectionClosed(self, protocol: HelloProtocol) -> None:
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
