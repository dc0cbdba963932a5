# -*- test-case-name: tests.test_protocol -*-
"""
The HTTP/1.1 session of a connection: its requests, answered strictly in
the order they came, even when an earlier one still waits (on a timer or in
a thread).

It feeds what arrives to a L{RequestReader}, asks the factory's
L{Answerer<hello_service.answers.answers.Answerer>} for each request's answer (it
holds no HTTP rule of its own) and writes the answers in order through its
connection's writer.  How the connection ends, whatever the reason, is the
connection's (L{hello_service.connection.session.Link}).
"""

from __future__ import annotations

from collections import deque
from enum import Enum
from typing import TYPE_CHECKING

from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from hello_service.connection.deadlines import Deadline
from hello_service.http.requests import UNPARSED, HTTPError, Request, RequestReader
from hello_service.http.responses import CONTINUE, Response
from hello_service.http.statuslines import INTERNAL_ERROR, REQUEST_TIMEOUT

if TYPE_CHECKING:
    from hello_service.connection.session import Link

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
    Where an HTTP/1.1 session is in its life.
    """

    #: Reading requests and answering them.
    READING = "reading"
    #: No request after those received will be answered (the last one asked
    #: to close, or broke a rule): answering what is queued, reading no more.
    FINISHING = "finishing"
    #: The last answer is written; the connection ends next (L{_end}).
    LAST_SENT = "last sent"
    #: The connection is ending, or gone.
    CLOSED = "closed"


# As module globals, for the checks on every request (see deadlines.py).
_IDLE = Deadline.IDLE
_HEADER = Deadline.HEADER
_READING = Phase.READING
_FINISHING = Phase.FINISHING
_LAST_SENT = Phase.LAST_SENT
_CLOSED = Phase.CLOSED


class HTTP1Session:
    """
    HTTP/1.1 on one connection (a L{Session
    <hello_service.connection.session.Session>}).
    """

    log = Logger()

    __slots__ = (
        "_link",
        "_factory",
        "_writer",
        "_flow",
        "_deadline",
        "_record",
        "_peer",
        "_reader",
        "_queue",
        "_phase",
        "_began",
        "_altSvc",
    )

    def __init__(self, link: Link) -> None:
        self._link = link
        factory = self._factory = link.factory
        # What every request uses, held here: one attribute hop fewer each.
        self._writer = link.writer
        self._flow = link.flow
        self._deadline = link.deadline
        self._record = factory.exchanges.record
        self._peer = link.peer
        self._reader = RequestReader(factory.requestLimits)
        self._queue: deque[_Pending] | None = None
        self._phase = _READING
        #: When the first byte of the request being received came.
        self._began = 0.0
        #: The C{Alt-Svc} line each answer carries, if any.
        self._altSvc = b"Alt-Svc: %s\r\n" % link.altSvc if link.altSvc else None

    # Reading requests.

    def dataReceived(self, data: bytes) -> None:
        if self._phase is not _READING:
            return  # finishing, or closed and lingering: dropped
        reader = self._reader
        factory = self._factory
        # When the first byte of each request came, for access logs that
        # time requests: in this read, unless one was begun in an earlier
        # read; then the first request completed here began then.
        if factory.timesRequests:
            now = factory.clock.seconds()
            began = self._began if reader.midRequest else now
        else:
            now = began = 0.0
        requests = reader.feed(data)
        for request in requests:
            self._dispatch(request, began)
            if self._phase is not _READING:
                if self._phase is _LAST_SENT:
                    # Bytes after the request it answered (more requests,
                    # or part of one) are input the end must not reset the
                    # answer over.
                    self._end(
                        request is not requests[-1]
                        or reader.midRequest
                        or reader.trailing
                    )
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

    def _dispatch(self, request: Request, began: float) -> None:
        factory = self._factory
        answer = factory.answerer.answer(request)
        queue = self._queue
        if type(answer) is Response and not queue:
            self._send(request, answer, began)  # the caller ends, if it closes
            return
        if not request.keepAlive:
            self._stopReading()  # nothing after it will be answered
        pending = _Pending(request, factory.clock.seconds(), began)
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
        factory = self._factory
        factory.counts.refusedWith(error.status)
        response = factory.answerer.refuse(error)
        now = factory.clock.seconds()
        reader = self._reader
        began = self._began if reader.midRequest else now
        if self._queue:
            self._stopReading()
            pending = _Pending(UNPARSED, now, began)
            pending.response = response
            self._queue.append(pending)
        else:
            self._send(UNPARSED, response, began)
            self._end(True)  # lingers, reading to drop what follows

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
        pending.response = self._factory.answerer.refuse(
            HTTPError(INTERNAL_ERROR, reason.getErrorMessage())
        )
        if self._queue:
            self._flush()

    def _flush(self) -> None:
        queue = self._queue
        if queue and queue[0].response is not None:
            now = self._factory.clock.seconds()
            observeWait = self._factory.counts.observeWait
        while queue and queue[0].response is not None:
            pending = queue.popleft()
            observeWait(now - pending.since, pending.response.kind)  # type: ignore[union-attr]
            stopped = self._phase is _FINISHING
            self._send(pending.request, pending.response, pending.began)  # type: ignore[arg-type]
            if self._phase is _LAST_SENT:
                # Input after it: requests still queued, one begun, bytes
                # after a closing request, or (reading stopped) what the
                # client sent since, unread.
                reader = self._reader
                self._end(
                    stopped or bool(queue) or reader.midRequest or reader.trailing
                )
                return
        if queue or self._phase is not _READING:
            return
        if not self._flow.clientNotReading:
            self._flow.resumeReading()
        self._awaitClient()

    def _send(self, request: Request, response: Response, began: float) -> None:
        keepAlive = request.keepAlive and not self._factory.draining
        altSvc = self._altSvc
        if altSvc is None:
            data = response.toBytes(request, keepAlive)
        else:
            data = response.toBytesWith(request, keepAlive, altSvc)
        self._record(self._peer, request, response, began)
        if keepAlive:
            self._writer.write(data)
            return
        # The last answer: its caller ends the connection (L{_end}).
        self._phase = _LAST_SENT
        self._writer.writeLast(data)

    def _end(self, inputAfter: bool) -> None:
        """
        The last answer is written: end the connection, lingering if the
        client may still be sending (L{Link.lingeringClose
        <hello_service.connection.session.Link.lingeringClose>}).
        """
        self._phase = _CLOSED
        if inputAfter:
            self._link.lingeringClose()
        else:
            self._link.close()

    # The connection's questions.

    def closeWhenIdle(self) -> None:
        """
        The service drains: close the connection if it stays idle for the
        drain grace (L{Timeouts.drain<hello_service.connection.deadlines.Timeouts>}).
        Closing it at once could cross a request the client is already
        sending; one that arrives is answered with C{Connection: close}.
        """
        if self._idle():
            self._deadline.start(Deadline.DRAIN)

    def _idle(self) -> bool:
        """
        Whether no request is being received or answered on the connection.
        """
        return (
            not self._queue and self._phase is _READING and not self._reader.midRequest
        )

    @property
    def requestsInFlight(self) -> int:
        partial = 1 if self._reader.midRequest else 0
        return (len(self._queue) if self._queue else 0) + partial

    def connectionLost(self) -> None:
        self._phase = _CLOSED
        queue = self._queue
        self._queue = None
        if queue:
            for pending in queue:
                if pending.deferred is not None:
                    pending.deferred.cancel()
        # The parser points back at its reader: let go, so that the
        # connection is freed as its last reference goes.
        self._reader.close()

    def pauseProducing(self) -> None:
        """
        The connection stopped reading for us; nothing more to do.
        """

    def resumeProducing(self) -> None:
        if self._phase is not _READING:
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

    # Timeouts.

    def _awaitClient(self) -> None:
        """
        Nothing is being answered any more: the client has the rest of the
        header timeout to finish a request it started (counted from its
        first byte), or the idle timeout to start one.
        """
        if self._reader.midRequest:
            self._deadline.start(_HEADER)
        else:
            self._deadline.start(_IDLE)

    def deadlinePassed(self, deadline: Deadline) -> None:
        if deadline is _HEADER:
            self._refuse(HTTPError(REQUEST_TIMEOUT, "request too slow"))
        elif self._idle():
            if deadline is _IDLE:
                self._factory.counts.refused("idle_timeout")
            self._phase = _CLOSED
            self._link.close()
