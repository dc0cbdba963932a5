# -*- test-case-name: tests.test_http3,tests.system.test_http3 -*-
"""
The HTTP/3 session of one QUIC connection: many requests at once, each a
stream, each answered as soon as its answer is ready, as over HTTP/2.  What
HTTP/3 adds is below the streams: QUIC delivers each stream on its own, so
a lost packet holds up only the stream it carried, where over HTTP/2 one
lost TCP segment holds up every stream behind it.

The state machines are aioquic's (L{hello_service.connection.http3.quic});
this class turns their events into requests, asks the answer layer each
stream's answer (the same as HTTP/1.1's and HTTP/2's), reads the fields as
HTTP/2's are read (L{hello_service.http.fieldsections}), and keeps the
drain and the bounds.  The endpoint (L{hello_service.connection.http3.endpoint})
owns the socket, the timers and who may connect; this session tells it
what the connection needs.

A stream the client cancels (RESET_STREAM, STOP_SENDING: a browser leaving
a page) costs only itself: its work is cancelled, nothing is ever written
to it, and the connection goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from aioquic.h3.connection import ProtocolError as H3ProtocolError
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.events import (
    ConnectionIdIssued,
    ConnectionIdRetired,
    ConnectionTerminated,
    HandshakeCompleted,
    ProtocolNegotiated,
    StopSendingReceived,
    StreamDataReceived,
    StreamReset,
)
from twisted.logger import Logger

from hello_service.connection.http2.defences import Defences
from hello_service.connection.http3.quic import (
    H3_EXCESSIVE_LOAD,
    H3_MESSAGE_ERROR,
    H3_NO_ERROR,
    H3_REQUEST_CANCELLED,
    H3_REQUEST_REJECTED,
    MalformedStream,
    ServerH3,
    ServerQuic,
)
from hello_service.connection.streams import Stream, StreamAnswers
from hello_service.http.fieldlists import trailerMalformation
from hello_service.http.fieldsections import (
    FieldSectionReader,
    MalformedRequest,
    responseHeaders,
)
from hello_service.http.requests import HTTPError
from hello_service.http.responses import Response
from hello_service.http.statuslines import CONTENT_TOO_LARGE

if TYPE_CHECKING:
    from hello_service.connection.protocol import HelloFactory

#: The version an HTTP/3 request carries, as the access log writes it.
VERSION = b"3"

#: Every HTTP/3 stream's fields, read into requests (each distinct list once).
_fields = FieldSectionReader(VERSION)

#: What aioquic raises for a send on a stream that cannot take one (the
#: client reset it, or asked us to stop sending).
_UNSENDABLE = (ValueError, AssertionError, H3ProtocolError)


class QuicPort(Protocol):
    """
    What a session uses of the UDP port that carries it
    (L{hello_service.connection.http3.endpoint.QuicEndpoint}).
    """

    factory: HelloFactory

    def send(self, session: HTTP3Session) -> None:
        """
        Send what the session's connection has to send (by the end of this
        reactor turn), re-arm its timer, and tell it (L{HTTP3Session.sent}).
        """

    def transmit(self, session: HTTP3Session) -> None:
        """L{send}, at once."""

    def handshakeCompleted(self, session: HTTP3Session) -> None:
        """Its handshake is done: it no longer counts as one in progress."""

    def route(self, connectionId: bytes, session: HTTP3Session) -> None:
        """Packets for C{connectionId} are the session's from now on."""

    def unroute(self, connectionId: bytes) -> None:
        """C{connectionId} is retired."""

    def closed(self, session: HTTP3Session) -> None:
        """The connection closed: it no longer counts as open."""

    def terminated(self, session: HTTP3Session) -> None:
        """QUIC is done with the connection: forget it."""


class HTTP3Session(StreamAnswers[Stream]):
    """
    HTTP/3 on one QUIC connection: a connection of the factory's, as a
    TCP one is (it counts under C{--max-connections} and drains with the
    others), whose bytes come through its endpoint.
    """

    log = Logger()

    #: Whether the connection limit let it in (L{admit}).
    admitted = False
    speaksHTTP2 = False
    speaksHTTP3 = True

    def __init__(
        self,
        endpoint: QuicPort,
        quic: ServerQuic,
        address: tuple[str, int],
        now: float,
    ) -> None:
        self._endpoint = endpoint
        factory = self.factory = endpoint.factory
        self._quic = quic
        self._h3: ServerH3 | None = None
        #: The client, as the access log names it.
        self.peer = address[0]
        self._record = factory.exchanges.record
        self._answeredHTTP3 = factory.counts.answeredHTTP3
        self._streams: dict[int, Stream] = {}
        #: The GOAWAY of a drain was sent: streams from this id on are
        #: rejected.
        self._goAwayAt: int | None = None
        #: The highest request stream the client opened, plus one stream.
        self._nextStreamId = 0
        self._closed = False
        self._defences = Defences(now)
        self._idle = self.factory.timeouts.idle
        #: When the endpoint's timer heap has this connection's timer due.
        self.timerAt: float | None = None
        self.handshaking = True
        #: When the client's time is up: to finish its handshake (the
        #: header timeout), then to send a request while none is in flight
        #: (C{--idle-timeout}, as for HTTP/1.1 and HTTP/2); C{None} while
        #: one is.
        self._deadlineAt: float | None = now + self.factory.timeouts.header

    @property
    def quic(self) -> ServerQuic:
        return self._quic

    def admit(self) -> None:
        self.admitted = True

    # Datagrams in, through the endpoint.

    def datagramReceived(self, data: bytes, address: Any, now: float) -> None:
        try:
            self._quic.receive_datagram(data, address, now)
        except Exception:
            # aioquic asserts what it expects of a datagram (before 1.7, a
            # new connection's coalesced packets after an unreadable
            # Initial raised AssertionError): the rest of it is dropped,
            # never a traceback.
            self.factory.counts.refused("quic_garbage")
        self._events(now)

    def sent(self) -> None:
        """
        The endpoint sent what the connection had to send (and aioquic
        forgot the streams done both ways as it did): once a drain's last
        answers are acknowledged, the connection closes.
        """
        if self._goAwayAt is not None and not self._closed:
            self._closeIfDrained()

    def nextTimer(self) -> float | None:
        """
        When the connection next needs the clock: QUIC's own timer (loss
        detection, acknowledgements, its idle timeout), or the client's
        deadline, whichever is first.
        """
        when: float | None = self._quic.get_timer()
        deadline = self._deadlineAt
        if deadline is not None and not self._closed:
            if when is None or deadline < when:
                return deadline
        return when

    def timerFired(self, now: float) -> None:
        deadline = self._deadlineAt
        if deadline is not None and not self._closed and now >= deadline:
            self._deadlineAt = None
            if self.handshaking:
                # Never validated: left without a word (a CONNECTION_CLOSE
                # would go past the 3x amplification limit).
                self.factory.counts.refused("header_timeout")
                self._terminated(0)
            else:
                self.factory.counts.refused("idle_timeout")
                self.closeWhenIdle()
            return
        quicAt = self._quic.get_timer()
        if quicAt is not None and quicAt <= now:
            self._quic.handle_timer(now)
            self._events(now)

    def _events(self, now: float) -> None:
        quic = self._quic
        event: Any = quic.next_event()
        while event is not None:
            kind = type(event)
            if kind is StreamDataReceived:
                if self._h3 is not None:
                    for h3event in self._h3.handle_event(event):
                        self._http(h3event, now)
            elif kind is StreamReset or kind is StopSendingReceived:
                if self._h3 is not None:
                    self._h3.handle_event(event)
                self._cancelled(event.stream_id, now)
            elif kind is ProtocolNegotiated:
                self._negotiated(event.alpn_protocol)
            elif kind is HandshakeCompleted:
                self.handshaking = False
                self._deadlineAt = None if self._streams else now + self._idle
                self._endpoint.handshakeCompleted(self)
            elif kind is ConnectionIdIssued:
                self._endpoint.route(event.connection_id, self)
            elif kind is ConnectionIdRetired:
                self._endpoint.unroute(event.connection_id)
            elif kind is ConnectionTerminated:
                self._terminated(event.error_code)
                return
            event = quic.next_event()

    def _negotiated(self, protocol: str | None) -> None:
        settings = self.factory.http2
        maxList = 16 * 1024 if settings is None else settings.maxHeaderListSize
        # Made as the first datagram's ClientHello is read (ALPN chose h3),
        # so a drain always finds it.
        self._h3 = ServerH3(self._quic, maxList, tableCapacity=4096)

    def _http(self, event: Any, now: float) -> None:
        kind = type(event)
        streamId = event.stream_id
        if kind is HeadersReceived:
            stream = self._streams.get(streamId)
            if stream is None:
                self._requestReceived(event, now)
            elif trailerMalformation(event.headers) is not None:
                self._resetStream(streamId, H3_MESSAGE_ERROR, "malformed", now)
            elif event.stream_ended and not stream.ended:
                stream.ended = True
                self._dispatch(streamId, stream)
        elif kind is DataReceived:
            stream = self._streams.get(streamId)
            if stream is None or stream.ended:
                return
            stream.body += len(event.data)
            if stream.body > self.factory.requestLimits.maxBody:
                stream.ended = True
                self._refuse(
                    streamId,
                    stream,
                    HTTPError(CONTENT_TOO_LARGE, "request body too large"),
                )
            elif event.stream_ended:
                stream.ended = True
                self._dispatch(streamId, stream)
        elif kind is MalformedStream:
            self._resetStream(streamId, H3_MESSAGE_ERROR, "malformed", now)

    def _requestReceived(self, event: HeadersReceived, now: float) -> None:
        streamId = event.stream_id
        if streamId >= self._nextStreamId:
            self._nextStreamId = streamId + 4
        if self._goAwayAt is not None and streamId >= self._goAwayAt:
            # Opened after our GOAWAY: not processed, as it said; the
            # client may retry it elsewhere (RFC 9114 section 5.2).
            self._reject(streamId, H3_REQUEST_REJECTED)
            return
        stream = Stream(now)
        if not self.handshaking:
            self._deadlineAt = None
        try:
            stream.request = _fields.request(event.headers, self.factory.requestLimits)
        except MalformedRequest:
            self._resetStream(streamId, H3_MESSAGE_ERROR, "malformed", now)
            return
        except HTTPError as error:
            self._streams[streamId] = stream
            stream.ended = True
            self._refuse(streamId, stream, error)
            return
        self._streams[streamId] = stream
        if event.stream_ended:
            stream.ended = True
            self._dispatch(streamId, stream)

    # Resets, either way.

    def _reject(self, streamId: int, code: int) -> None:
        """Reset a stream both ways, unanswered."""
        try:
            self._quic.reset_stream(streamId, code)
            self._quic.stop_stream(streamId, code)
        except _UNSENDABLE:
            pass

    def _resetStream(self, streamId: int, code: int, cause: str, now: float) -> None:
        """
        Reset a stream for what the client sent (a malformed request),
        counted under C{cause}; such resets share the client's own reset
        budget (MadeYouReset), past which the connection ends.
        """
        self.factory.counts.refused(cause)
        self._forget(streamId)
        self._reject(streamId, code)
        if not self._defences.reset(now):
            self._abandon("rapid_reset")

    def _cancelled(self, streamId: int, now: float) -> None:
        """
        The client cancelled a stream: its work is abandoned and nothing
        more is sent on it; past the reset budget (rapid reset), the
        connection ends.
        """
        if streamId in self._streams:
            self._forget(streamId)
            self._reject(streamId, H3_REQUEST_CANCELLED)
        if not self._defences.reset(now):
            self._abandon("rapid_reset")

    # Answers.

    def _answeredLater(self) -> None:
        self._endpoint.send(self)

    def _refuse(self, streamId: int, stream: Stream, error: HTTPError) -> None:
        """
        Answer a stream that broke a rule with the refusal HTTP/1.1 would
        send, then ask the client to send no more of it.
        """
        self.factory.counts.refusedWith(error.status)
        self._respond(streamId, stream, self.factory.answerer.refuse(error))
        try:
            self._quic.stop_stream(streamId, H3_NO_ERROR)
        except _UNSENDABLE:
            pass

    def _respond(self, streamId: int, stream: Stream, response: Response) -> None:
        h3 = self._h3
        assert h3 is not None
        request = stream.request
        _, fields = responseHeaders(response)
        bodiless = request.method == b"HEAD" or not response.body
        try:
            h3.send_headers(streamId, fields, end_stream=bodiless)
            if not bodiless:
                h3.send_data(streamId, response.body, end_stream=True)
        except _UNSENDABLE:
            self._forget(streamId)
            return
        self._record(self.peer, request, response, stream.began)
        self._answeredHTTP3[response.kind] += 1
        self._finished(streamId)

    def _finished(self, streamId: int) -> None:
        self._streams.pop(streamId, None)
        self._closeIfDrained()

    def _forget(self, streamId: int) -> None:
        stream = self._streams.pop(streamId, None)
        if stream is not None and stream.deferred is not None:
            stream.deferred.cancel()
        self._closeIfDrained()

    def _closeIfDrained(self) -> None:
        """
        The last stream done: after a drain's GOAWAY the connection closes;
        otherwise the idle timeout starts.
        """
        if self._streams:
            return
        if self._goAwayAt is not None:
            if self._quic.answersDelivered:
                self.close()
        elif self._deadlineAt is None and not self.handshaking:
            self._deadlineAt = self.factory.clock.seconds() + self._idle

    # Closing.

    def closeWhenIdle(self) -> None:
        """
        The service drains: GOAWAY names the first stream that will not be
        served; those before it finish, then the connection closes.
        """
        if self._closed or self._goAwayAt is not None:
            return
        self._goAwayAt = self._nextStreamId
        if self._h3 is not None:
            self._h3.goAway(self._goAwayAt)
        self._endpoint.transmit(self)  # the GOAWAY now, before any close
        self._closeIfDrained()

    def close(self, code: int = H3_NO_ERROR, reason: str = "") -> None:
        """
        Close the connection (CONNECTION_CLOSE): it no longer counts as
        open, though QUIC keeps answering with the close for a moment.
        """
        if self._closed:
            return
        self._closed = True
        for streamId in list(self._streams):
            self._forget(streamId)
        self._quic.close(error_code=code, reason_phrase=reason)
        self._endpoint.send(self)
        self._endpoint.closed(self)

    def abort(self) -> None:
        """The shutdown timeout passed: close now, whatever is in flight."""
        self.close(H3_NO_ERROR, "shutting down")

    def _abandon(self, cause: str) -> None:
        self.factory.counts.refused(cause)
        self.close(H3_EXCESSIVE_LOAD, cause)

    def _terminated(self, code: int) -> None:
        """
        QUIC is done with the connection: forget it.  Ended with an error
        hello did not choose, the client broke a rule of QUIC or HTTP/3
        (aioquic's bounds on connection IDs, path challenges and buffered
        CRYPTO data among them): counted as C{protocol_error}.
        """
        for streamId in list(self._streams):
            self._forget(streamId)
        if not self._closed:
            if code not in (0, H3_NO_ERROR):
                self.factory.counts.refused("protocol_error")
            self._closed = True
            self._endpoint.closed(self)
        self._endpoint.terminated(self)

    @property
    def requestsInFlight(self) -> int:
        return len(self._streams)
