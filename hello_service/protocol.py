# -*- test-case-name: tests.test_protocol -*-
"""
A L{HelloProtocol} per connection, made by a L{HelloFactory}: the
C{handle_connection} of the original, as reactor events.

The protocol only moves bytes: it feeds what arrives to an
L{http.RequestReader}, asks the factory's responder for each request's
answer, and writes the answers strictly in the order the requests came, even
when an earlier one is still waiting (on a timer or in a thread).  It also
owns the connection's timers and its flow control.
"""

from __future__ import annotations

import socket
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twisted.internet import tcp
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import (
    IAddress,
    IProtocolNegotiationFactory,
    IPushProducer,
    IReactorTime,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from hello_service import http
from hello_service.accesslog import AccessLog
from hello_service.routes import route

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall

    from hello_service.limits import ConnectionLimiter
    from hello_service.responders import Responder

#: Requests of one connection being answered at once before we stop reading
#: more of them: a client pipelining faster than we answer waits in TCP.
MAX_PIPELINED = 32


@dataclass(frozen=True)
class Timeouts:
    """
    How long a client may take, in seconds.

    @ivar header: to send a whole request (head and any body), counted from
        its first byte.
    @ivar idle: to start the next request on a persistent connection.
    @ivar write: to take a response it is not reading.
    @ivar linger: to close its side after we refused its input; until then
        what it still sends is read and dropped, so that the refusal reaches
        it instead of a reset.
    """

    header: float = 10.0
    idle: float = 15.0
    write: float = 30.0
    linger: float = 2.0


class _Pending:
    """
    A request whose answer is not written yet, in its place in the line.
    """

    __slots__ = ("request", "response", "deferred")

    def __init__(self, request: http.Request) -> None:
        self.request = request
        self.response: http.Response | None = None
        self.deferred: Deferred[http.Response] | None = None


# What a connection's single timer is waiting for.
_NO_DEADLINE = 0
_IDLE = 1
_REQUEST = 2
_WRITE = 3
_LINGER = 4


@implementer(IPushProducer)
class HelloProtocol(Protocol):
    """
    One HTTP/1.1 connection.
    """

    factory: HelloFactory
    log = Logger()

    # The state of a new connection, as class attributes: an instance holds
    # only what differs, which keeps an idle connection small and cheap to
    # make.
    _reader: http.RequestReader | None = None
    _queue: deque[_Pending] | None = None
    #: No request after the one being read will be answered: it asked to
    #: close, broke a rule, or the connection is gone.
    _closing = False
    #: The last response is written and the connection is closing.
    _disconnecting = False
    _readPaused = False
    _writePaused = False
    #: Whether the transport may call pauseProducing and resumeProducing.
    _producing = False
    _timer: IDelayedCall | None = None
    #: The socket, while writes may go straight to it (see _write).
    _socket: socket.socket | None = None
    _deadline = 0.0
    _deadlineKind = _NO_DEADLINE

    def __init__(self, factory: HelloFactory, client: str) -> None:
        self.factory = factory
        self._client = client

    # Connection life.

    def connectionMade(self) -> None:
        transport = self.transport
        if isinstance(transport, tcp.Connection):
            # Plain TCP or UNIX (not TLS, which wraps a transport): writes go
            # straight to the socket until one does not fit (see _write), and
            # only then can the transport's buffer fill up and need to pause
            # us, so we register as its producer only then.
            self._socket = transport.getHandle()
        else:
            self._produce()
        self.factory.connectionOpened(self)

    def _produce(self) -> None:
        """
        Have the transport pause us while its write buffer is full.
        """
        self._producing = True
        self.transport.registerProducer(self, True)  # type: ignore[union-attr]

    def admit(self) -> None:
        """
        Start serving: called by the factory when the connection limit lets
        this connection in (at once, unless the limit is reached).
        """
        if self._readPaused and not self._closing:
            self._readPaused = False
            self.transport.resumeProducing()  # type: ignore[union-attr]
        self._setDeadline(_IDLE)

    def hold(self) -> None:
        """
        Read nothing until L{admit}: the connection limit is reached.
        """
        self.transport.pauseProducing()  # type: ignore[union-attr]
        self._readPaused = True

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._closing = self._disconnecting = True
        self._clearDeadline()
        self._cancelTimer()
        queue = self._queue
        self._queue = None
        if queue:
            for pending in queue:
                if pending.deferred is not None:
                    pending.deferred.cancel()
        self.factory.connectionClosed(self)

    # Reading requests.

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        reader = self._reader
        if reader is None:
            reader = self._reader = http.RequestReader(self.factory.limits)
        requests = reader.feed(data)
        for request in requests:
            self._dispatch(request)
            if self._closing:
                return
        if reader.continueWanted:
            reader.continueWanted = False
            if not self._queue:  # behind other answers, the client goes ahead
                self._write(http.CONTINUE)
        if reader.error is not None:
            self._refuse(reader.error)
        elif not self._queue:
            if reader.midRequest:
                self._setDeadline(_REQUEST, restart=bool(requests))
            else:
                self._setDeadline(_IDLE)  # _awaitClient, inline: the hot path

    def _dispatch(self, request: http.Request) -> None:
        answer = self.factory.responder.respond(route(request))
        queue = self._queue
        if type(answer) is http.Response and not queue:
            self._send(request, answer)  # and closes, if the request said so
            return
        if not request.keepAlive:
            self._stopReading()  # nothing after it will be answered
        pending = _Pending(request)
        if type(answer) is http.Response:
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
        self._clearDeadline()
        if len(queue) >= MAX_PIPELINED and not self._readPaused:
            self._readPaused = True
            self.transport.pauseProducing()  # type: ignore[union-attr]
        self._flush()

    def _refuse(self, error: http.HTTPError) -> None:
        response = self.factory.refuse(error)
        if self._queue:
            self._stopReading()
            pending = _Pending(http.UNPARSED)
            pending.response = response
            self._queue.append(pending)
        else:
            self._send(http.UNPARSED, response)  # then lingers, reading to drop

    def _stopReading(self) -> None:
        self._closing = True
        if not self._readPaused:
            self._readPaused = True
            self.transport.pauseProducing()  # type: ignore[union-attr]

    # Writing responses, in order.

    def _ready(self, response: http.Response, pending: _Pending) -> None:
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
        pending.response = self.factory.refuse(
            http.HTTPError(http.INTERNAL_ERROR, reason.getErrorMessage())
        )
        if self._queue:
            self._flush()

    def _flush(self) -> None:
        queue = self._queue
        while queue and queue[0].response is not None:
            pending = queue.popleft()
            self._send(pending.request, pending.response)  # type: ignore[arg-type]
            if self._disconnecting:
                return
        if queue:
            return
        if self._readPaused and not self._closing and not self._writePaused:
            self._readPaused = False
            self.transport.resumeProducing()  # type: ignore[union-attr]
        if not self._closing:
            self._awaitClient()

    def _send(self, request: http.Request, response: http.Response) -> None:
        factory = self.factory
        keepAlive = request.keepAlive and not factory.draining
        data = response.toBytes(request, keepAlive)
        factory.accessLog.record(
            self._client,
            request,
            response.status,
            0 if request.method == b"HEAD" else len(response.body),
        )
        if keepAlive:
            self._write(data)
            return
        # The last response: the transport sends it on its way to closing,
        # in the same reactor turn as the close (sent straight away instead,
        # the close would still cost that turn, plus an empty send).
        self._socket = None
        self.transport.write(data)  # type: ignore[union-attr]
        if request is http.UNPARSED:
            self._lingeringClose()
        else:
            self._disconnect()

    def _write(self, data: bytes) -> None:
        """
        Send C{data}, straight to the socket when nothing is queued ahead of
        it.

        C{transport.write} only buffers, registers the socket for writing and
        sends on a later turn of the reactor: two C{epoll_ctl} calls and a
        wake-up per response, which on the keep-alive path cost more than
        the rest of the request.  A response almost always fits the socket's
        send buffer, so we try to send it at once and hand the transport
        only what did not fit.  From then on the transport may hold data, so
        everything goes through it, keeping the bytes in order.
        """
        sock = self._socket
        if sock is not None:
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                # The transport finds out for itself and closes.
                sent = 0
            if sent == len(data):
                return
            self._socket = None
            self._produce()
            data = data[sent:]
        self.transport.write(data)  # type: ignore[union-attr]

    def _disconnect(self) -> None:
        """
        Close once what is written has been sent.  Work still pending for
        later requests is cancelled when the connection is lost.
        """
        self._closing = self._disconnecting = True
        if self._producing:
            self.transport.unregisterProducer()  # type: ignore[union-attr]
        self.transport.loseConnection()  # type: ignore[union-attr]
        if self._socket is None:
            # The transport may still hold data for a client that does not
            # read it; loseConnection would wait for it forever.
            self._setDeadline(_WRITE)
        else:
            self._clearDeadline()

    def _lingeringClose(self) -> None:
        """
        Close our side once the refusal is sent, but keep reading (and
        dropping) for a moment: closing a socket with unread input makes the
        kernel send a reset, which can destroy the refusal before the client
        reads it.  The client closing, or the linger timeout, ends it.
        """
        transport = self.transport
        if not isinstance(transport, tcp.Connection):
            # TLS, or a test's transport: a plain close.  (TLS cannot read
            # on after closing its writing side.)
            self._disconnect()
            return
        self._closing = self._disconnecting = True
        if self._producing:
            transport.unregisterProducer()
        transport.loseWriteConnection()
        if self._readPaused:
            self._readPaused = False
            transport.resumeProducing()
        self._setDeadline(_LINGER)

    def closeIfIdle(self) -> bool:
        """
        Close the connection if no request is being received or answered
        on it; used when the service drains.

        @return: whether it was closed.
        """
        if self._queue or self._closing:
            return False
        reader = self._reader
        if reader is not None and reader.midRequest:
            return False
        self._disconnect()
        return True

    @property
    def requestsInFlight(self) -> int:
        """
        How many requests are received, in part or whole, and not answered.
        """
        reader = self._reader
        partial = 1 if reader is not None and reader.midRequest else 0
        return (len(self._queue) if self._queue else 0) + partial

    # Flow control: the transport calls these when its write buffer fills
    # up and drains.  A client that does not read gets nothing more read.

    def pauseProducing(self) -> None:
        self._writePaused = True
        if not self._readPaused:
            self._readPaused = True
            self.transport.pauseProducing()  # type: ignore[union-attr]
        self._setDeadline(_WRITE)

    def resumeProducing(self) -> None:
        self._writePaused = False
        if self._closing:
            return
        queue = self._queue
        if queue is not None and len(queue) >= MAX_PIPELINED:
            self._clearDeadline()
            return
        self._readPaused = False
        self.transport.resumeProducing()  # type: ignore[union-attr]
        if queue:
            self._clearDeadline()
        else:
            self._awaitClient()

    def stopProducing(self) -> None:
        """
        The transport is going away; L{connectionLost} cleans up.
        """

    # Timeouts.  One DelayedCall per connection, moved only when a deadline
    # comes sooner than the one it waits for: on the keep-alive path a
    # request only stores a new deadline.

    def _awaitClient(self, restart: bool = False) -> None:
        """
        Nothing is being answered: the client has the rest of the header
        timeout to finish a request it started (from its first byte, or
        from now if C{restart}: a request just completed), or the idle
        timeout to start one.
        """
        reader = self._reader
        if reader is not None and reader.midRequest:
            self._setDeadline(_REQUEST, restart)
        else:
            self._setDeadline(_IDLE)

    def _setDeadline(self, kind: int, restart: bool = False) -> None:
        if self._writePaused and kind != _WRITE:
            return  # a client not reading: only the write timeout applies
        previous = self._deadlineKind
        if kind == previous:
            if kind == _IDLE and self._timer is not None:
                # The keep-alive path: a later idle deadline never needs
                # the timer moved, just a new time to check against.
                factory = self.factory
                self._deadline = factory.clock.seconds() + factory.timeouts.idle
                return
            if kind == _REQUEST and not restart:
                return  # counted from the request's first byte, never extended
        t = self.factory.timeouts
        delay = (0.0, t.idle, t.header, t.write, t.linger)[kind]
        clock = self.factory.clock
        deadline = clock.seconds() + delay
        self._deadline = deadline
        self._deadlineKind = kind
        timer = self._timer
        if timer is None:
            self._timer = clock.callLater(delay, self._checkDeadline)
        elif deadline < timer.getTime():
            timer.reset(delay)

    def _clearDeadline(self) -> None:
        if not self._writePaused:
            self._deadlineKind = _NO_DEADLINE

    def _checkDeadline(self) -> None:
        self._timer = None
        kind = self._deadlineKind
        if kind == _NO_DEADLINE:
            return
        clock = self.factory.clock
        remaining = self._deadline - clock.seconds()
        if remaining > 0:
            self._timer = clock.callLater(remaining, self._checkDeadline)
            return
        self._deadlineKind = _NO_DEADLINE
        if kind == _WRITE or kind == _LINGER:
            self._closing = self._disconnecting = True
            self.transport.abortConnection()  # type: ignore[union-attr]
        elif kind == _REQUEST:
            self._refuse(http.HTTPError(http.REQUEST_TIMEOUT, "request too slow"))
        else:
            self.closeIfIdle()

    def _cancelTimer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@implementer(IProtocolNegotiationFactory)
class HelloFactory(Factory):
    """
    Makes a L{HelloProtocol} per connection and holds what they share: the
    responder, the limits, the timeouts, the access log and the set of open
    connections (for the connection limit and for draining at shutdown).
    """

    protocol = HelloProtocol  # type: ignore[assignment]
    noisy = False

    def __init__(
        self,
        responder: Responder,
        clock: IReactorTime,
        limits: http.Limits = http.DEFAULT_LIMITS,
        timeouts: Timeouts = Timeouts(),
        limiter: ConnectionLimiter | None = None,
    ) -> None:
        self.responder = responder
        self.clock = clock
        self.limits = limits
        self.timeouts = timeouts
        self.limiter = limiter
        self.accessLog = AccessLog(clock)
        self._date = http.DateCache()
        self.connections: set[HelloProtocol] = set()
        self.draining = False
        self._drained: list[Deferred[None]] = []

    def acceptableProtocols(self) -> list[bytes]:
        """
        What we speak, for TLS's ALPN: HTTP/1.1 only.  (Without an answer a
        client offering ALPN, as curl and browsers do, gets a TLS alert.)
        """
        return [b"http/1.1"]

    def refuse(self, error: http.HTTPError) -> http.Response:
        """
        The answer to input that breaks a rule, whatever the concurrency
        model: always built at once, on the reactor thread.
        """
        return http.errorResponse(error, self._date.at(self.clock.seconds()))

    def buildProtocol(self, addr: IAddress | None) -> HelloProtocol:  # type: ignore[override]
        return HelloProtocol(self, getattr(addr, "host", None) or "-")

    def connectionOpened(self, protocol: HelloProtocol) -> None:
        """
        A connection was made: admit it, or hold it if the limit is reached.
        """
        self.connections.add(protocol)
        if self.limiter is None or self.limiter.acquire(protocol):
            protocol.admit()
        else:
            protocol.hold()

    def connectionClosed(self, protocol: HelloProtocol) -> None:
        """
        A connection is gone: free its place.
        """
        self.connections.discard(protocol)
        if self.limiter is not None:
            self.limiter.release(protocol)
        if not self.connections and self._drained:
            drained, self._drained = self._drained, []
            for waiting in drained:
                waiting.callback(None)

    def requestsInFlight(self) -> int:
        """
        How many requests all connections have received and not answered.
        """
        return sum(protocol.requestsInFlight for protocol in self.connections)

    def drain(self) -> Deferred[None]:
        """
        Stop keeping connections alive: close the idle ones now, and let the
        others close after their current answer.

        @return: a L{Deferred} that fires when no connection is left.
        """
        self.draining = True
        for protocol in list(self.connections):
            protocol.closeIfIdle()
        waiting: Deferred[None] = Deferred()
        if self.connections:
            self._drained.append(waiting)
        else:
            waiting.callback(None)
        return waiting
