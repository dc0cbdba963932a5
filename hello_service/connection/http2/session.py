# -*- test-case-name: tests.test_http2,tests.system.test_http2,tests.system.test_closing -*-
"""
The HTTP/2 session of a connection: many requests at once, each a stream, each answered
as soon as its answer is ready, whatever the streams before it wait for.
Over HTTP/1.1 the answers of one connection must leave in order, so a
pipelined C{/sleep} holds up every C{/} behind it; here it holds up nobody.

The state machine is the C{h2} library's (sans-I/O, as Twisted's own HTTP/2
uses it); this class moves bytes between it and the transport, asks the
answer layer each stream's answer (L{hello_service.answers.answers}, the same as
HTTP/1.1's), keeps the flow-control windows both ways, the deadlines and
the drain, and the bounds of L{hello_service.connection.http2.defences}.

The connection picks this session at its first bytes
(L{hello_service.connection.protocol.HelloProtocol}): the HTTP/2 preface in
cleartext, or C{h2} chosen by TLS's ALPN.  The connection keeps the socket,
its place under the connection limit, its writer, its deadline timer and
every way it ends (L{hello_service.connection.session.Link}); this session
uses them.  A connection error is one GOAWAY with the code RFC 9113 names:
h2 writes one of its own as it raises, which is held back here
(L{_ServerConnection}), so that the code is ours to choose.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from h2.config import H2Configuration
from h2.connection import ConnectionInputs, H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    PingReceived,
    PriorityUpdated,
    RemoteSettingsChanged,
    RequestReceived,
    SettingsAcknowledged,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.exceptions import DenialOfServiceError, ProtocolError, StreamClosedError
from h2.settings import SettingCodes, Settings
from h2.stream import StreamInputs
from hpack.exceptions import HPACKError
from hyperframe.frame import GoAwayFrame
from twisted.logger import Logger

from hello_service.connection.deadlines import Deadline
from hello_service.connection.http2 import VERSION
from hello_service.connection.http2.defences import Defences, HTTP2Settings
from hello_service.connection.http2.headerblocks import AnswerEncoder, RequestDecoder
from hello_service.connection.streams import Stream, StreamAnswers
from hello_service.http.fieldlists import trailerMalformation
from hello_service.http.fieldsections import (
    FieldSectionReader,
    MalformedRequest,
    responseHeaders,
)
from hello_service.http.requests import HTTPError
from hello_service.http.responses import Response
from hello_service.http.statuslines import (
    CONTENT_TOO_LARGE,
    REQUEST_TIMEOUT,
)

if TYPE_CHECKING:
    from hello_service.connection.session import Link

#: Every HTTP/2 stream's fields, read into requests (each distinct list once).
_fields = FieldSectionReader(VERSION)

#: What h2 raises a header block it cannot decode as, by cause: RFC 9113
#: section 4.3 makes that a COMPRESSION_ERROR, where h2 says PROTOCOL_ERROR.
_UNDECODABLE = (HPACKError, IndexError, TypeError, UnicodeDecodeError)


def errorCode(error: ProtocolError) -> int:
    """
    The GOAWAY code for a connection error h2 raised: COMPRESSION_ERROR for
    a header block that cannot be decoded, else h2's own (an HPACK bomb, a
    block that decodes to far too much, stays h2's ENHANCE_YOUR_CALM).
    """
    if not isinstance(error, DenialOfServiceError) and isinstance(
        error.__cause__, _UNDECODABLE
    ):
        return ErrorCodes.COMPRESSION_ERROR
    return getattr(error, "error_code", None) or ErrorCodes.PROTOCOL_ERROR


#: How many times the advertised header list size a list may decode to
#: before the connection is ended rather than the stream answered 431.
BOMB_FACTOR = 4


#: A frame's head (RFC 9113 section 4.1): its length, as a byte and two,
#: its type, its flags, its stream.
_FRAME_HEAD = struct.Struct(">BHBBL")
_DATA, _HEADERS, _CONTINUATION = 0x0, 0x1, 0x9
_END_STREAM, _END_HEADERS = 0x1, 0x4


class _ServerConnection(H2Connection):
    """
    h2's connection, with what a server of fixed answers changes in it:

      - h2 refuses a stream past the advertised
        C{SETTINGS_MAX_CONCURRENT_STREAMS} as an error of the whole
        connection, before it decodes the stream's header block.  Here the
        stream is refused on its own, with C{REFUSED_STREAM} (RFC 9113
        section 5.1.2 allows either), after its headers are decoded so that
        the header compression state stays in step: the connection counts
        its streams itself (L{HTTP2Session}), so h2 is told none are open;
      - an answer's frames are written as bytes (L{answerHeaders},
        L{answerBody});
      - the session, not h2, sends the one GOAWAY of a connection error;
      - a frame announced too long is refused before it is buffered.
    """

    def waitingFrameTooLong(self) -> bool:
        """
        Whether the frame h2 is waiting the rest of is longer than we
        allow: h2 checks a frame's length only once all of it has come, and
        would buffer it whole (up to 16 MiB) first.  (h2's buffer is
        private: fenced by C{tests.test_fences}.)
        """
        return len(self.incoming_buffer._data) > self.max_inbound_frame_size + 9

    def drainingGoAway(self) -> tuple[int, bytes]:
        """
        The last stream received, and the GOAWAY of a drain that says all
        streams up to it will be served.
        """
        last = self.highest_inbound_stream_id
        frame = GoAwayFrame(stream_id=0, last_stream_id=last, error_code=0)
        return last, frame.serialize()

    #: How many streams h2 may hold, open or closed, before it is asked to
    #: forget the closed ones (see L{open_inbound_streams}).
    _sweepAt = 16

    @property
    def open_inbound_streams(self) -> int:
        """
        None, to h2: the session counts its streams itself.  h2 forgets
        its closed streams as it counts, walking every stream it holds for
        each new one; here it is asked to once the streams it holds have
        doubled since it last did, which bounds them the same and walks
        each stream a few times in all.
        """
        if len(self.streams) >= self._sweepAt:
            super().open_inbound_streams  # noqa: B018 (h2 forgets closed streams here)
            self._sweepAt = 2 * len(self.streams) + 16
        return 0

    def answerHeaders(
        self, streamId: int, fields: list[tuple[bytes, bytes]], endStream: bool
    ) -> None:
        """
        h2's C{send_headers} for a server's answer on a stream the client
        opened, doing only what such an answer needs: the same state
        transitions, the block from our encoder, the frames written as
        bytes (h2 builds and serializes frame objects, and converts and
        checks fields that are ours).  Raises what h2 raises for a stream
        that cannot be answered.  (h2's outgoing buffer is private: fenced
        by C{tests.test_fences}; C{tests.test_http2} checks the bytes
        against h2's own.)
        """
        stream = self.streams.get(streamId)
        if stream is None:
            self.send_headers(streamId, fields, end_stream=endStream)
            return
        self.state_machine.process_input(ConnectionInputs.SEND_HEADERS)
        machine = stream.state_machine
        machine.process_input(StreamInputs.SEND_HEADERS)
        if endStream:
            machine.process_input(StreamInputs.SEND_END_STREAM)
        block = self.encoder.encode(fields)
        most = self.max_outbound_frame_size
        out = self._data_to_send
        kind, flags = _HEADERS, _END_STREAM if endStream else 0
        while True:
            piece, block = block[:most], block[most:]
            if not block:
                flags |= _END_HEADERS
            out += _FRAME_HEAD.pack(
                len(piece) >> 16, len(piece) & 0xFFFF, kind, flags, streamId
            )
            out += piece
            if not block:
                return
            kind, flags = _CONTINUATION, 0

    def answerBody(self, streamId: int, body: bytes) -> bytes:
        """
        h2's C{send_data} for what the stream's and the connection's
        windows allow of an answer's body, in DATA frames no larger than
        the largest the client takes, the last one ending the stream: the
        same state transitions and window accounting, the frames written as
        bytes.  Raises what h2 raises for a stream that cannot be answered.

        @return: what the windows did not let out, to send on a
            C{WINDOW_UPDATE}.
        """
        stream = self.streams.get(streamId)
        if stream is None:
            self.local_flow_control_window(streamId)  # raises as h2 does
            return body
        out = self._data_to_send
        machine = stream.state_machine
        while body:
            window = min(
                self.outbound_flow_control_window,
                stream.outbound_flow_control_window,
                self.max_outbound_frame_size,
            )
            if window <= 0:
                return body
            chunk, body = body[:window], body[window:]
            self.state_machine.process_input(ConnectionInputs.SEND_DATA)
            machine.process_input(StreamInputs.SEND_DATA)
            if not body:
                machine.process_input(StreamInputs.SEND_END_STREAM)
            size = len(chunk)
            stream.outbound_flow_control_window -= size
            self.outbound_flow_control_window -= size
            out += _FRAME_HEAD.pack(
                size >> 16, size & 0xFFFF, _DATA, 0 if body else _END_STREAM, streamId
            )
            out += chunk
        return body

    def _terminate_connection(self, error_code: ErrorCodes) -> None:
        """
        h2 writes a GOAWAY of its own as it raises a connection error; the
        session sends the one GOAWAY, with the code RFC 9113 names
        (L{errorCode}), so h2's is not written.  (A private method of h2's,
        fenced by C{tests.test_closing}: a second GOAWAY fails it.)
        """


def _serverConnection(settings: HTTP2Settings) -> _ServerConnection:
    """
    The h2 state machine of one connection, as C{settings} ask.
    """
    h2 = _ServerConnection(
        H2Configuration(
            client_side=False,
            header_encoding=None,
            # Our fields are our own (lower-case names, values stripped, no
            # connection-specific field): checking each one again costs a
            # third of a stream; what the client sends is checked.
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            # What the client sends is checked by the session, once for
            # each distinct field list, not by h2 on every stream
            # (fieldsections.FieldSectionReader); cookies are never read, so
            # never joined.
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
    )
    # As the settings before any acknowledgement: what the first SETTINGS
    # frame says, and what h2 holds the client to.
    h2.local_settings = Settings(
        client=False,
        initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: settings.maxConcurrentStreams,
            SettingCodes.MAX_HEADER_LIST_SIZE: settings.maxHeaderListSize,
            SettingCodes.ENABLE_PUSH: 0,
        },
    )
    # A list over the advertised size is answered 431 on its stream, as
    # HTTP/1.1 answers it; one far over it (an HPACK bomb) ends the
    # connection as h2 decodes it.
    h2.decoder = RequestDecoder(BOMB_FACTOR * settings.maxHeaderListSize)
    # Answers' header blocks, each encoded once for the process.
    h2.encoder = AnswerEncoder()
    return h2


class HTTP2Session(StreamAnswers[Stream]):
    """
    HTTP/2 on one connection (a L{Session
    <hello_service.connection.session.Session>}).
    """

    log = Logger()

    def __init__(self, link: Link) -> None:
        self._link = link
        factory = self.factory = link.factory
        self._writer = link.writer
        self._deadline = link.deadline
        self._record = factory.exchanges.record
        self._answeredHTTP2 = factory.counts.answeredHTTP2
        self._streams: dict[int, Stream] = {}
        #: Streams whose answer waits for the client's flow-control window.
        self._blocked: set[int] = set()
        #: The transport's buffer is full: nothing more is sent until it drains.
        self._paused = False
        #: The GOAWAY of a drain was sent: streams after this id are not served.
        self._lastStreamId: int | None = None
        self._closed = False
        self._defences = Defences(factory.clock.seconds())
        settings = factory.http2
        assert settings is not None
        self._maxStreams = settings.maxConcurrentStreams
        self._h2 = _serverConnection(settings)
        #: The C{Alt-Svc} field each answer carries, if any.
        self._altSvc = (b"alt-svc", link.altSvc) if link.altSvc else None

    # Bytes in.

    def start(self) -> None:
        """Send our settings: the connection chose HTTP/2."""
        self._h2.initiate_connection()
        self._flush()

    def dataReceived(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            events = self._h2.receive_data(data)
        except ProtocolError as error:
            self._abandon("protocol_error", errorCode(error))
            return
        if self._h2.waitingFrameTooLong():
            self._abandon("protocol_error", ErrorCodes.FRAME_SIZE_ERROR)
            return
        now = self.factory.clock.seconds()
        for event in events:
            if self._closed:
                return
            self._handle(event, now)
        self._flush()
        self._awaitClient()

    def _handle(self, event: Any, now: float) -> None:
        # h2's events, told apart by their exact type: one test each.
        kind = type(event)
        if kind is RequestReceived:
            self._requestReceived(event, now)
        elif kind is DataReceived:
            self._dataReceived(event, now)
        elif kind is StreamEnded:
            stream = self._streams.get(event.stream_id)
            if stream is not None and not stream.ended:
                stream.ended = True
                self._dispatch(event.stream_id, stream)
        elif kind is TrailersReceived:
            if trailerMalformation(event.headers) is not None:
                self._resetStream(
                    event.stream_id, "malformed", ErrorCodes.PROTOCOL_ERROR, now
                )
        elif kind is StreamReset:
            self._forget(event.stream_id)
            if not self._defences.reset(now):
                self._abandon("rapid_reset", ErrorCodes.ENHANCE_YOUR_CALM)
        elif kind is WindowUpdated or kind is RemoteSettingsChanged:
            self._sendBlocked()
            if kind is RemoteSettingsChanged and not self._defences.frame(now):
                self._abandon("control_flood", ErrorCodes.ENHANCE_YOUR_CALM)
        elif (
            kind is PingReceived
            or kind is SettingsAcknowledged
            or kind is PriorityUpdated
        ):
            if not self._defences.frame(now):
                self._abandon("control_flood", ErrorCodes.ENHANCE_YOUR_CALM)
        elif kind is ConnectionTerminated:
            # The client is going away: nothing more to say to it.
            self._closed = True
            self._link.closeDroppingInput()

    def _requestReceived(self, event: RequestReceived, now: float) -> None:
        streamId = event.stream_id
        if self._lastStreamId is not None and streamId > self._lastStreamId:
            return  # opened after our GOAWAY: not processed, as it said
        if len(self._streams) >= self._maxStreams:
            # One stream more than the limit: refused at once, never queued.
            self._resetStream(
                streamId, "refused_stream", ErrorCodes.REFUSED_STREAM, now
            )
            return
        stream = self._streams[streamId] = Stream(now)
        try:
            stream.request = _fields.request(event.headers, self.factory.requestLimits)
        except MalformedRequest:
            # RFC 9113 section 8.1.1: a stream error, unanswered.
            self._resetStream(streamId, "malformed", ErrorCodes.PROTOCOL_ERROR, now)
            return
        except HTTPError as error:
            self._refuse(streamId, stream, error)
            return
        if event.stream_ended is not None:
            stream.ended = True
            self._dispatch(streamId, stream)

    def _resetStream(self, streamId: int, cause: str, code: int, now: float) -> None:
        """
        Reset a stream unanswered for what the client sent (one past the
        stream limit, a malformed request), counted under C{cause}.  The
        connection goes on, unless the client makes the server reset
        streams faster than the reset bound allows (such resets share the
        client's own budget: MadeYouReset).
        """
        self.factory.counts.refused(cause)
        self._forget(streamId)
        try:
            self._h2.reset_stream(streamId, code)
        except (StreamClosedError, ProtocolError):
            pass
        if not self._defences.reset(now):
            self._abandon("rapid_reset", ErrorCodes.ENHANCE_YOUR_CALM)

    def _dataReceived(self, event: DataReceived, now: float) -> None:
        streamId = event.stream_id
        length = event.flow_controlled_length or 0
        try:
            # By its flow-controlled length, padding included: by len(data)
            # alone a padded body would close the window for good.
            self._h2.acknowledge_received_data(length, streamId)
        except (StreamClosedError, ProtocolError):
            pass
        if (
            not event.data
            and event.stream_ended is None
            and not self._defences.frame(now)
        ):
            self._abandon("control_flood", ErrorCodes.ENHANCE_YOUR_CALM)
            return
        stream = self._streams.get(streamId)
        if stream is None or stream.ended:
            return
        stream.body += len(event.data or b"")
        if stream.body > self.factory.requestLimits.maxBody:
            stream.ended = True
            self._refuse(
                streamId, stream, HTTPError(CONTENT_TOO_LARGE, "request body too large")
            )

    # Answers.

    def _answeredLater(self) -> None:
        self._flush()
        self._awaitClient()

    def _refuse(self, streamId: int, stream: Stream, error: HTTPError) -> None:
        """
        Answer a stream that broke a rule with the refusal HTTP/1.1 would
        send (its status, its page), then tell the client to send no more
        of it.
        """
        self.factory.counts.refusedWith(error.status)
        self._respond(streamId, stream, self.factory.answerer.refuse(error))
        if not stream.ended and not self._closed:
            try:
                self._h2.reset_stream(streamId, ErrorCodes.NO_ERROR)
            except (StreamClosedError, ProtocolError):
                pass
            self._forget(streamId)

    def _respond(self, streamId: int, stream: Stream, response: Response) -> None:
        request = stream.request
        status, fields = responseHeaders(response)
        if self._altSvc is not None:
            fields = [*fields, self._altSvc]
        bodiless = request.method == b"HEAD" or not response.body
        try:
            self._h2.answerHeaders(streamId, fields, bodiless)
        except (StreamClosedError, ProtocolError):
            self._forget(streamId)
            return
        self._record(self._link.peer, request, response, stream.began)
        self._answeredHTTP2[response.kind] += 1
        if bodiless:
            self._finished(streamId)
        else:
            stream.unsent = response.body
            self._send(streamId, stream)

    def _send(self, streamId: int, stream: Stream) -> None:
        """
        Send what the windows allow of the stream's answer (nothing while
        the transport's buffer is full); the rest waits.
        """
        if not self._paused:
            stream.unsent = self._h2.answerBody(streamId, stream.unsent)
        if self._paused or stream.unsent:
            self._blocked.add(streamId)
        else:
            self._blocked.discard(streamId)
            self._finished(streamId)

    def _sendBlocked(self) -> None:
        for streamId in sorted(self._blocked):
            stream = self._streams.get(streamId)
            if stream is None:
                self._blocked.discard(streamId)
            else:
                try:
                    self._send(streamId, stream)
                except (StreamClosedError, ProtocolError):
                    self._forget(streamId)

    def _finished(self, streamId: int) -> None:
        self._streams.pop(streamId, None)
        self._closeIfDrained()

    def _closeIfDrained(self) -> None:
        """After a drain's GOAWAY, the last stream done closes the connection."""
        if self._lastStreamId is not None and not self._streams:
            self._goAway()

    def _forget(self, streamId: int) -> None:
        """
        The stream is gone (reset, by either side): its work is abandoned.
        """
        stream = self._streams.pop(streamId, None)
        self._blocked.discard(streamId)
        if stream is not None and stream.deferred is not None:
            stream.deferred.cancel()
        self._closeIfDrained()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data:
            self._writer.write(data)

    # Flow control: the transport's buffer, as HTTP/1.1 has it.

    def pauseProducing(self) -> None:
        """
        The client does not read: send nothing more, and read nothing more
        (so PING or SETTINGS answers cannot pile up), until it does.
        """
        self._paused = True

    def resumeProducing(self) -> None:
        self._link.flow.resumeReading()
        self._paused = False
        self._sendBlocked()
        self._flush()
        self._awaitClient()

    # Deadlines and closing.

    def _awaitClient(self) -> None:
        """
        Which deadline the client is under now: the write timeout while an
        answer waits for it to read or to open its window, the header
        timeout while a stream is incomplete, the idle timeout with no
        stream at all.
        """
        if self._closed:
            return
        deadline = self._deadline
        if self._blocked or self._paused:
            deadline.start(Deadline.WRITE)
        elif any(not stream.ended for stream in self._streams.values()):
            deadline.start(Deadline.HEADER)
        elif not self._streams:
            deadline.start(Deadline.IDLE)
        else:
            deadline.stop()

    def deadlinePassed(self, deadline: Deadline) -> None:
        if deadline is Deadline.HEADER:
            now = self.factory.clock.seconds()
            header = self.factory.timeouts.header
            for streamId, stream in list(self._streams.items()):
                if not stream.ended and now - stream.began >= header:
                    stream.ended = True
                    self._refuse(
                        streamId, stream, HTTPError(REQUEST_TIMEOUT, "request too slow")
                    )
            self._flush()
            self._awaitClient()
        elif not self._streams:
            if deadline is Deadline.IDLE:
                self.factory.counts.refused("idle_timeout")
            self._goAway()

    def closeWhenIdle(self) -> None:
        """
        The service drains: a GOAWAY says which streams will be served (all
        received so far); they finish, then the connection closes.
        """
        if self._closed or self._lastStreamId is not None:
            return
        self._flush()
        self._lastStreamId, goAway = self._h2.drainingGoAway()
        self._writer.write(goAway)
        self._closeIfDrained()
        self._awaitClient()

    def _goAway(self, code: int = ErrorCodes.NO_ERROR) -> None:
        """
        Close the connection with one GOAWAY, naming the last stream
        processed.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._h2.close_connection(error_code=code)
        except ProtocolError:
            pass
        self._flush()
        self._link.closeDroppingInput()

    def _abandon(self, cause: str, code: int) -> None:
        """
        The client broke a rule of the protocol or a bound: GOAWAY with
        C{code}, counted under C{cause}, and every stream's work dropped.
        """
        self.factory.counts.refused(cause)
        self._lastStreamId = None
        for streamId in list(self._streams):
            self._forget(streamId)
        self._goAway(code)

    @property
    def requestsInFlight(self) -> int:
        return len(self._streams)

    def connectionLost(self) -> None:
        self._closed = True
        for streamId in list(self._streams):
            self._forget(streamId)
