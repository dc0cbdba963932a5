"""
Tests for HTTP/2 (L{hello_service.connection.http2}) in memory: an C{h2} client on a
C{StringTransport}, time a C{task.Clock}.  The same answers as HTTP/1.1,
streams that never wait for each other, flow control both ways, the
deadlines and the drain, and each known abuse ending in a bound or a
GOAWAY, counted.  Real clients (curl, nghttp, Chromium) against real
processes are in C{tests.system.test_http2}.
"""

from __future__ import annotations

from typing import Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import StreamClosedError
from h2.settings import SettingCodes
from hyperframe.frame import ContinuationFrame, DataFrame, Frame, HeadersFrame
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from hello_service.connection.accesslog import AccessLog
from hello_service.connection.http2 import PREFACE
from hello_service.connection.http2.defences import Defences, HTTP2Settings, TokenBucket
from hello_service.connection.protocol import HelloFactory, HelloProtocol
from hello_service.http.fieldsections import headerListSize, responseHeaders
from hello_service.http.requests import RequestLimits

from .support.builders import HELLO, HELLO_ETAG, NOT_FOUND, connect, makeFactory


class Client:
    """
    An HTTP/2 client (C{h2}) talking to a L{HelloProtocol} over a
    L{StringTransport}: what it sends is fed to the server at once, what the
    server writes is read back by L{exchange}.
    """

    def __init__(
        self,
        factory: HelloFactory | None = None,
        clock: Clock | None = None,
        settings: dict[int, int] | None = None,
        **factoryArguments: Any,
    ) -> None:
        self.clock = clock or Clock()
        self.factory = factory or makeFactory(self.clock, **factoryArguments)
        self.protocol: HelloProtocol
        self.protocol, self.transport = connect(self.factory)
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.h2.initiate_connection()
        if settings:
            self.h2.update_settings(settings)
        self.events: list[Any] = []
        self.exchange()

    def exchange(self) -> None:
        """
        Send what the client has to send, read what the server wrote, until
        neither has anything more.
        """
        for _ in range(100):
            outgoing = self.h2.data_to_send()
            if outgoing and not self.transport.disconnecting:
                self.protocol.dataReceived(outgoing)
            incoming = self.transport.value()
            self.transport.clear()
            if incoming:
                self.events.extend(self.h2.receive_data(incoming))
            if not outgoing and not incoming:
                return

    def raw(self, data: bytes) -> None:
        """
        Bytes the client's state machine does not know of (hostile frames).
        """
        self.protocol.dataReceived(data)
        incoming = self.transport.value()
        self.transport.clear()
        if incoming:
            try:
                self.events.extend(self.h2.receive_data(incoming))
            except Exception:
                self.events.append("unreadable")

    def get(
        self,
        path: bytes = b"/",
        method: bytes = b"GET",
        headers: Any = (),
        end: bool = True,
    ) -> int:
        stream = self.h2.get_next_available_stream_id()
        self.h2.send_headers(
            stream,
            [(b":method", method), (b":path", path), (b":scheme", b"http"),
             (b":authority", b"t"), *headers],
            end_stream=end,
        )  # fmt: skip
        self.exchange()
        return stream

    def answer(self, stream: int) -> tuple[dict[bytes, bytes], bytes, bool]:
        """
        The headers, body and whether the answer on C{stream} is complete.
        """
        headers: dict[bytes, bytes] = {}
        body = b""
        ended = False
        for event in self.events:
            if getattr(event, "stream_id", None) != stream:
                continue
            if isinstance(event, ResponseReceived):
                headers = dict(event.headers)
                ended = ended or event.stream_ended is not None
            elif isinstance(event, DataReceived):
                body += event.data
                self.h2.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, StreamEnded):
                ended = True
        return headers, body, ended

    def resets(self) -> dict[int, int]:
        return {
            e.stream_id: e.error_code for e in self.events if isinstance(e, StreamReset)
        }

    def goAway(self) -> ConnectionTerminated | None:
        for event in self.events:
            if isinstance(event, ConnectionTerminated):
                return event
        return None


def frames(data: bytes) -> list[Any]:
    """
    The frames in C{data}, parsed by hand.
    """
    found = []
    while data:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9 : 9 + length]))
        found.append(frame)
        data = data[9 + length :]
    return found


class AnswersTests(SynchronousTestCase):
    def test_sameAnswerAsHTTP1(self) -> None:
        """
        C{GET /} over HTTP/2 is the hello page with the fields HTTP/1.1
        sends, less the connection-specific ones.
        """
        client = Client()
        headers, body, ended = client.answer(client.get())
        self.assertEqual((headers[b":status"], body, ended), (b"200", HELLO, True))
        self.assertEqual(headers[b"content-type"], b"text/html; charset=utf-8")
        self.assertEqual(headers[b"content-length"], b"%d" % len(HELLO))
        self.assertEqual(headers[b"etag"], HELLO_ETAG)
        self.assertNotIn(b"connection", headers)

    def test_headHasNoBody(self) -> None:
        """
        C{HEAD} gets the same status and fields, and no body.
        """
        client = Client()
        headers, body, ended = client.answer(client.get(method=b"HEAD"))
        self.assertEqual((headers[b":status"], body, ended), (b"200", b"", True))
        self.assertEqual(headers[b"content-length"], b"%d" % len(HELLO))

    def test_notFoundAndMethodNotAllowed(self) -> None:
        """
        Unknown paths get the 404 page; other methods 405 with C{Allow}.
        """
        client = Client()
        headers, body, _ = client.answer(client.get(b"/nothing"))
        self.assertEqual((headers[b":status"], body), (b"404", NOT_FOUND))
        headers, _, _ = client.answer(client.get(method=b"DELETE"))
        self.assertEqual(headers[b":status"], b"405")
        self.assertIn(b"GET", headers[b"allow"])

    def test_conditionalAndRange(self) -> None:
        """
        A matching C{If-None-Match} gets 304; a range gets 206 with its part.
        """
        client = Client()
        headers, body, _ = client.answer(
            client.get(headers=[(b"if-none-match", HELLO_ETAG)])
        )
        self.assertEqual((headers[b":status"], body), (b"304", b""))
        headers, body, _ = client.answer(client.get(headers=[(b"range", b"bytes=0-4")]))
        self.assertEqual((headers[b":status"], body), (b"206", HELLO[:5]))

    def test_oneAccessLineAStream(self) -> None:
        """
        Each stream is one access-log line, as C{HTTP/2.0}.
        """
        clock = Clock()
        with capturedLogs() as events:
            client = Client(clock=clock, accessLog=AccessLog(clock))
            client.get()
            client.get(b"/nothing")
            client.factory.accessLog.flush()
        lines = "\n".join(formatEvent(e) for e in events)
        self.assertIn(f'"GET / HTTP/2.0" 200 {len(HELLO)}', lines)
        self.assertIn('"GET /nothing HTTP/2.0" 404', lines)

    def test_responseFieldsFromOneHead(self) -> None:
        """
        The header list of an answer is read off its HTTP/1.1 head: the
        same fields, lower-cased, without connection-specific ones.
        """
        from hello_service.http.responses import Response

        status, fields = responseHeaders(
            Response(
                b"200", b"HTTP/1.1 200 OK\r\nDate: x\r\nConnection: close\r\n", b""
            )
        )
        self.assertEqual(
            (status, fields), (b"200", [(b":status", b"200"), (b"date", b"x")])
        )


class StreamsTests(SynchronousTestCase):
    def test_slowStreamHoldsUpNobody(self) -> None:
        """
        A C{/sleep} and then ten C{/} on one connection: the ten are
        answered at once, the C{/sleep} after its delay.
        """
        client = Client(delay=5.0)
        slow = client.get(b"/sleep")
        fast = [client.get() for _ in range(10)]
        self.assertTrue(all(client.answer(stream)[2] for stream in fast))
        self.assertFalse(client.answer(slow)[2])
        client.clock.advance(5)
        client.exchange()
        self.assertEqual(client.answer(slow)[1], HELLO)

    def test_streamLimitAdvertisedAndEnforced(self) -> None:
        """
        SETTINGS advertise the stream limit; a stream past it is refused
        with C{REFUSED_STREAM} at once, counted, and the others still
        answered.
        """
        client = Client(http2=HTTP2Settings(maxConcurrentStreams=3))
        self.assertEqual(client.h2.remote_settings.max_concurrent_streams, 3)
        # The client ignores the limit, as an attacker would.
        client.h2.remote_settings.acknowledge()
        client.h2.remote_settings[SettingCodes.MAX_CONCURRENT_STREAMS] = 100
        client.h2.remote_settings.acknowledge()
        slow = [client.get(b"/sleep") for _ in range(4)]
        self.assertEqual(client.resets(), {slow[3]: ErrorCodes.REFUSED_STREAM})
        self.assertEqual(client.factory.counts.refusals["refused_stream"], 1)
        client.clock.advance(5)
        client.exchange()
        self.assertTrue(all(client.answer(stream)[2] for stream in slow[:3]))
        self.assertIsNone(client.goAway())
        self.assertTrue(client.answer(client.get())[2])

    def test_refusalsExported(self) -> None:
        """
        C{/metrics} counts refusals by cause, every cause present from the
        start.
        """
        from hello_service.http.counting import REFUSALS, addFigures

        from .test_admin import exposition, samples

        client = Client(http2=HTTP2Settings(maxConcurrentStreams=1))
        client.h2.remote_settings[SettingCodes.MAX_CONCURRENT_STREAMS] = 100
        client.h2.remote_settings.acknowledge()
        client.get(b"/sleep"), client.get(b"/sleep")
        figures = addFigures([client.factory.counts.figures()])
        counted = samples(exposition(figures), "hello_refused_total")
        self.assertEqual(len(counted), len(REFUSALS))
        self.assertEqual(counted['{cause="refused_stream"}'], 1.0)
        self.assertEqual(counted['{cause="rapid_reset"}'], 0.0)

    def test_requestsCountedByProtocol(self) -> None:
        """
        C{hello_requests_total} says which protocol each answer went over.
        """
        from hello_service.http.counting import addFigures

        from .test_admin import exposition, samples

        client = Client()
        client.get(), client.get(), client.get(b"/nothing")
        text = exposition(addFigures([client.factory.counts.figures()]))
        answered = samples(text, "hello_requests_total")
        self.assertEqual(answered['{protocol="HTTP/2",route="/",status="200"}'], 2.0)
        self.assertEqual(answered['{protocol="HTTP/1.1",route="/",status="200"}'], 0.0)
        self.assertEqual(
            answered['{protocol="HTTP/2",route="other",status="404"}'], 1.0
        )

    def test_headerLimits(self) -> None:
        """
        The head limits mean what they mean in HTTP/1.1: too many fields or
        too large a list is 431, too long a path 414, on that stream only.
        """
        client = Client(
            requestLimits=RequestLimits(maxHeaders=5, maxHead=600, maxRequestLine=50)
        )
        many = client.get(headers=[(b"x-%d" % n, b"1") for n in range(5)])
        large = client.get(headers=[(b"x-big", b"a" * 500)])
        long = client.get(b"/" + b"a" * 60)
        self.assertEqual(client.answer(many)[0][b":status"], b"431")
        self.assertEqual(client.answer(large)[0][b":status"], b"431")
        self.assertEqual(client.answer(long)[0][b":status"], b"414")
        self.assertEqual(client.answer(client.get())[0][b":status"], b"200")
        self.assertEqual(client.factory.counts.refusals["header_limit"], 3)
        self.assertEqual(headerListSize([(b"ab", b"cde")]), 2 + 3 + 32)

    def test_bodyLimit(self) -> None:
        """
        A body over the limit is answered 413, and the stream is done with
        (reset with C{NO_ERROR}: the client may stop sending it).
        """
        client = Client(requestLimits=RequestLimits(maxBody=10))
        stream = client.get(b"/", method=b"POST", end=False)
        client.h2.send_data(stream, b"x" * 11)
        client.exchange()
        self.assertEqual(client.answer(stream)[0][b":status"], b"413")
        self.assertEqual(client.protocol.requestsInFlight, 0)
        self.assertEqual(client.factory.counts.refusals["body_limit"], 1)

    def test_bodyWithinLimitAnswered(self) -> None:
        """
        A request with a body within the limit is answered when it ends.
        """
        client = Client()
        stream = client.get(b"/", method=b"POST", end=False)
        self.assertFalse(client.answer(stream)[2])
        client.h2.send_data(stream, b"x" * 100, end_stream=True)
        client.exchange()
        self.assertEqual(client.answer(stream)[0][b":status"], b"405")


class FlowControlTests(SynchronousTestCase):
    def test_outboundNeverPastTheWindow(self) -> None:
        """
        With a window of 10 bytes, 10 bytes of the page are sent, and the
        rest once the client opens its window.
        """
        client = Client(settings={SettingCodes.INITIAL_WINDOW_SIZE: 10})
        stream = client.get()
        headers, body, ended = client.answer(stream)
        self.assertEqual((body, ended), (HELLO[:10], False))
        client.h2.increment_flow_control_window(1000, stream)
        client.exchange()
        self.assertEqual(client.answer(stream)[1:], (HELLO, True))

    def test_inboundAcknowledgedByFlowControlledLength(self) -> None:
        """
        Padded DATA is acknowledged by its flow-controlled length, padding
        included, so the client's window never shrinks for good.
        """
        client = Client()
        stream = client.get(b"/", method=b"POST", end=False)
        # 600 frames of 10 bytes and 200 of padding: twice the window.
        # Acknowledged by their data alone, the window would close at 330.
        for _ in range(600):
            client.h2.send_data(stream, b"x" * 10, pad_length=200)
            client.exchange()
        self.assertGreater(client.h2.local_flow_control_window(stream), 65535 // 2)
        self.assertIsNone(client.goAway())

    def test_zeroWindowEndsAtTheWriteTimeout(self) -> None:
        """
        A client that never opens its window is cut at the write timeout,
        counted.
        """
        client = Client(settings={SettingCodes.INITIAL_WINDOW_SIZE: 0})
        client.get()
        client.clock.advance(client.factory.timeouts.write + 1)
        self.assertTrue(client.transport.disconnecting or client.transport.disconnected)
        self.assertEqual(client.factory.counts.refusals["write_timeout"], 1)


class DeadlinesAndDrainTests(SynchronousTestCase):
    def test_idleTimeoutSendsGoAway(self) -> None:
        """
        A connection with no stream for the idle timeout gets a GOAWAY and
        is closed.
        """
        client = Client()
        client.get()
        client.clock.advance(client.factory.timeouts.idle + 1)
        client.exchange()
        self.assertEqual(client.goAway().error_code, ErrorCodes.NO_ERROR)  # type: ignore[union-attr]
        self.assertTrue(client.transport.disconnecting)

    def test_headerTimeoutPerStream(self) -> None:
        """
        A stream whose request is not finished within the header timeout is
        answered 408; the connection goes on.
        """
        client = Client()
        stream = client.get(b"/", method=b"POST", end=False)
        client.clock.advance(client.factory.timeouts.header + 1)
        client.exchange()
        self.assertEqual(client.answer(stream)[0][b":status"], b"408")
        self.assertEqual(client.answer(client.get())[0][b":status"], b"200")

    def test_drainLetsStreamsInFlightFinish(self) -> None:
        """
        A drain sends GOAWAY with the last stream id; the stream in flight
        is answered, one opened after is not processed, then the connection
        closes.
        """
        client = Client()
        slow = client.get(b"/sleep")
        client.factory.stopKeepingAlive()
        client.exchange()
        self.assertEqual(client.goAway().last_stream_id, slow)  # type: ignore[union-attr]
        self.assertFalse(client.transport.disconnecting)
        # h2's client takes a GOAWAY as the end; read the frames by hand.
        late = HeadersFrame(slow + 2, flags=["END_STREAM", "END_HEADERS"])
        late.data = client.h2.encoder.encode(
            [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
             (b":authority", b"t")]
        )  # fmt: skip
        client.protocol.dataReceived(late.serialize())
        self.assertEqual(client.transport.value(), b"")  # not processed
        client.clock.advance(5)
        sent = frames(client.transport.value())
        self.assertEqual(
            [(type(f).__name__, f.stream_id) for f in sent],
            [("HeadersFrame", slow), ("DataFrame", slow), ("GoAwayFrame", 0)],
        )
        self.assertEqual(sent[1].data, HELLO)
        self.assertTrue(client.transport.disconnecting)


class NegotiationTests(SynchronousTestCase):
    def test_prefaceInPieces(self) -> None:
        """
        The preface may arrive a few bytes at a time.
        """
        factory = makeFactory()
        protocol, transport = connect(factory)
        client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        client.initiate_connection()
        data = client.data_to_send()
        for piece in (data[:5], data[5:20], data[20:]):
            protocol.dataReceived(piece)
        client.receive_data(transport.value())
        self.assertTrue(data.startswith(PREFACE))
        self.assertEqual(client.remote_settings.max_concurrent_streams, 100)

    def test_http1StartingLikeThePreface(self) -> None:
        """
        HTTP/1.1 whose first bytes could begin the preface is HTTP/1.1.
        """
        factory = makeFactory()
        protocol, transport = connect(factory)
        protocol.dataReceived(b"P")
        protocol.dataReceived(b"UT / HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 405"))

    def test_heldFirstBytesUnderTheHeaderTimeout(self) -> None:
        """
        First bytes held as a possible preface are a request begun: the
        header timeout answers them 408, as HTTP/1.1 would.  (Found by
        the fuzzer.)
        """
        clock = Clock()
        factory = makeFactory(clock)
        protocol, transport = connect(factory)
        protocol.dataReceived(b"P")
        self.assertEqual(transport.value(), b"")
        clock.advance(factory.timeouts.header + 1)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 408 "))

    def test_emptyReadsDecideNothing(self) -> None:
        """
        An empty read before the first byte neither starts HTTP/1.1 nor
        counts as a request begun: the preface after it is still HTTP/2.
        (Found by the fuzzer.)
        """
        factory = makeFactory()
        protocol, transport = connect(factory)
        protocol.dataReceived(b"")
        protocol.dataReceived(PREFACE)
        self.assertTrue(protocol.speaksHTTP2)
        self.assertEqual(transport.value()[3:4], b"\x04")  # our SETTINGS

    def test_offMeansHTTP1Only(self) -> None:
        """
        With HTTP/2 off, the preface is what it was: an HTTP/1.1 request of
        a version not supported; ALPN offers HTTP/1.1 alone.
        """
        factory = makeFactory(http2=None)
        protocol, transport = connect(factory)
        protocol.dataReceived(PREFACE)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 505"))
        self.assertEqual(factory.acceptableProtocols(), [b"http/1.1"])
        self.assertEqual(makeFactory().acceptableProtocols(), [b"h2", b"http/1.1"])

    def test_upgradeToH2cIgnored(self) -> None:
        """
        C{Upgrade: h2c} (RFC 7540's cleartext upgrade, deprecated by RFC
        9113) is not taken: the request is answered as HTTP/1.1.
        """
        factory = makeFactory()
        protocol, transport = connect(factory)
        protocol.dataReceived(
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
        )
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertNotIn(b"101", transport.value().split(b"\r\n", 1)[0])

    def test_alpnChoosesHTTP2(self) -> None:
        """
        A TLS connection whose ALPN chose C{h2} is HTTP/2 from its first
        bytes.
        """

        class Negotiated(StringTransport):
            negotiatedProtocol = b"h2"

        factory = makeFactory()
        protocol, transport = connect(factory, Negotiated)
        client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        client.initiate_connection()
        protocol.dataReceived(client.data_to_send())
        client.receive_data(transport.value())
        self.assertEqual(client.remote_settings.max_concurrent_streams, 100)


def serverConnections() -> tuple[Any, Any, H2Connection]:
    """
    Two server connections of the session's making that have read the same
    two requests (streams 1 and 3, each ended, and stream 5 still open),
    and the client that sent them.
    """
    from hello_service.connection.http2.session import _serverConnection

    client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    fields = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
              (b":authority", b"t")]  # fmt: skip
    client.send_headers(1, fields, end_stream=True)
    client.send_headers(3, fields, end_stream=True)
    client.send_headers(5, fields, end_stream=False)
    sent = client.data_to_send()
    servers = []
    for _ in range(2):
        server = _serverConnection(HTTP2Settings())
        server.initiate_connection()
        server.receive_data(sent)
        server.data_to_send()
        servers.append(server)
    return servers[0], servers[1], client


class AnswerFramesTests(SynchronousTestCase):
    """
    The session writes an answer's frames itself
    (C{_ServerConnection.answerHeaders} and C{answerBody}): the same bytes,
    states and windows as h2's own C{send_headers} and C{send_data}.
    """

    def assertSameAs(self, ours: Any, h2s: Any) -> None:
        self.assertEqual(ours.data_to_send(), h2s.data_to_send())
        self.assertEqual(
            ours.outbound_flow_control_window, h2s.outbound_flow_control_window
        )
        for streamId in (1, 3, 5):
            mine, theirs = ours.streams[streamId], h2s.streams[streamId]
            self.assertEqual(mine.state_machine.state, theirs.state_machine.state)
            self.assertEqual(
                mine.outbound_flow_control_window, theirs.outbound_flow_control_window
            )

    def test_headersAndData(self) -> None:
        """
        Headers alone ending a stream, headers then a body in two frames,
        and headers too large for one frame (HEADERS then CONTINUATION).
        """
        ours, h2s, _ = serverConnections()
        head = [(b":status", b"200"), (b"content-type", b"text/html")]
        ours.answerHeaders(1, head, True)
        h2s.send_headers(1, head, end_stream=True)
        ours.answerHeaders(3, head, False)
        h2s.send_headers(3, head, end_stream=False)
        self.assertEqual(ours.answerBody(3, b"a" * 20_000 + b"b" * 10), b"")
        h2s.send_data(3, b"a" * 16_384)
        h2s.send_data(3, b"a" * 3_616 + b"b" * 10, end_stream=True)
        self.assertSameAs(ours, h2s)
        large = [(b":status", b"200"), (b"x-large", b"c" * 40_000)]
        ours.answerHeaders(5, large, True)
        h2s.send_headers(5, large, end_stream=True)
        self.assertSameAs(ours, h2s)

    def test_closedStreamsForgotten(self) -> None:
        """
        h2 is asked to forget the streams answered now and then, not at
        every new stream, and holds few however many streams a connection
        has had.
        """
        server, _, client = serverConnections()
        held = []
        for streamId in range(7, 1007, 2):
            client.send_headers(streamId, [(b":method", b"GET"), (b":path", b"/"),
                                           (b":scheme", b"http"), (b":authority", b"t")],
                                end_stream=True)  # fmt: skip
            server.receive_data(client.data_to_send())
            server.answerHeaders(streamId, [(b":status", b"204")], True)
            held.append(len(server.streams))
        self.assertLessEqual(max(held), 32)
        self.assertEqual(min(held), 4)  # the three left open, and the new one

    def test_pastTheWindow(self) -> None:
        """
        What the windows do not allow is kept, to be sent on a
        C{WINDOW_UPDATE}: the client's window is 65,535 bytes.
        """
        ours, h2s, _ = serverConnections()
        ours.answerHeaders(3, [(b":status", b"200")], False)
        h2s.send_headers(3, [(b":status", b"200")], end_stream=False)
        body = bytes(range(256)) * 300  # 76,800 bytes
        self.assertEqual(ours.answerBody(3, body), body[65_535:])
        for start in range(0, 65_535, 16_384):
            h2s.send_data(3, body[start : min(start + 16_384, 65_535)])
        self.assertSameAs(ours, h2s)
        self.assertEqual(ours.local_flow_control_window(3), 0)

    def test_closedStream(self) -> None:
        """
        A stream the client reset cannot be answered: the same error as
        h2's.
        """
        ours, h2s, client = serverConnections()
        client.reset_stream(5)
        reset = client.data_to_send()
        ours.receive_data(reset), h2s.receive_data(reset)
        head = [(b":status", b"200")]
        with self.assertRaises(StreamClosedError):
            h2s.send_headers(5, head)
        with self.assertRaises(StreamClosedError):
            ours.answerHeaders(5, head, False)
        with self.assertRaises(StreamClosedError):
            h2s.send_data(5, b"x", end_stream=True)
        with self.assertRaises(StreamClosedError):
            ours.answerBody(5, b"x")


class MalformedTests(SynchronousTestCase):
    """
    A malformed request (RFC 9113 section 8.1.1) is a stream error: its
    stream is reset with C{PROTOCOL_ERROR}, unanswered and counted, and the
    connection's other streams are served.
    """

    def sendFields(
        self, client: Client, fields: list[tuple[bytes, bytes]], end: bool = True
    ) -> int:
        """
        Send C{fields} as they are, past the client's own checks.
        """
        client.h2.config.validate_outbound_headers = False
        client.h2.config.normalize_outbound_headers = False
        stream = client.h2.get_next_available_stream_id()
        client.h2.send_headers(stream, fields, end_stream=end)
        client.exchange()
        return stream

    def test_resetNotAnswered(self) -> None:
        """
        Each malformed list resets its own stream: an upper-case name, a
        connection-specific field, C{te: gzip}, no C{:scheme}.
        """
        good = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
                (b":authority", b"t")]  # fmt: skip
        client = Client()
        broken = [
            self.sendFields(client, [*good, (b"Accept", b"*/*")]),
            self.sendFields(client, [*good, (b"connection", b"close")]),
            self.sendFields(client, [*good, (b"te", b"gzip")]),
            self.sendFields(client, [good[0], good[1], good[3]]),
        ]
        served = client.get()
        self.assertEqual(
            client.resets(), dict.fromkeys(broken, ErrorCodes.PROTOCOL_ERROR)
        )
        for stream in broken:
            self.assertEqual(client.answer(stream)[0], {})
        self.assertEqual(client.answer(served)[0][b":status"], b"200")
        self.assertIsNone(client.goAway())
        self.assertEqual(client.factory.counts.refusals["malformed"], 4)
        self.assertEqual(client.protocol.requestsInFlight, 0)

    def test_malformedTrailers(self) -> None:
        """
        Trailers with a pseudo-field reset the stream, unanswered.
        """
        client = Client()
        stream = client.get(b"/", method=b"POST", end=False)
        client.h2.config.validate_outbound_headers = False
        client.h2.send_headers(stream, [(b":path", b"/again")], end_stream=True)
        client.exchange()
        self.assertEqual(client.resets()[stream], ErrorCodes.PROTOCOL_ERROR)
        self.assertEqual(client.answer(stream)[0], {})

    def test_floodOfMalformedBounded(self) -> None:
        """
        Malformed requests sent without end count in the reset bucket: past
        it, GOAWAY.
        """
        client = Client()
        for _ in range(int(Defences.RESET_BURST) + 10):
            if client.goAway():
                break
            self.sendFields(client, [(b":method", b"GET")])
        terminated = client.goAway()
        self.assertIsNotNone(terminated)
        self.assertEqual(
            terminated.error_code,  # type: ignore[union-attr]
            ErrorCodes.ENHANCE_YOUR_CALM,
        )
        self.assertEqual(client.factory.counts.refusals["rapid_reset"], 1)

    def test_readOnceLimitsEachTime(self) -> None:
        """
        A field list is read once for every stream that sends it, but the
        limits are the connection's own each time: the same list is
        answered on one connection and refused 414 on another with a
        shorter request line.
        """
        path = b"/" + b"a" * 40
        roomy, tight = Client(), Client(requestLimits=RequestLimits(maxRequestLine=20))
        self.assertEqual(roomy.answer(roomy.get(path))[0][b":status"], b"404")
        self.assertEqual(tight.answer(tight.get(path))[0][b":status"], b"414")
        self.assertEqual(roomy.answer(roomy.get(path))[0][b":status"], b"404")


class AbuseTests(SynchronousTestCase):
    """
    Each known abuse ends in GOAWAY with C{ENHANCE_YOUR_CALM} or a protocol
    error, bounded in count, and counted by cause.
    """

    def assertCalmed(self, client: Client, cause: str) -> None:
        terminated = client.goAway()
        self.assertIsNotNone(terminated)
        self.assertIn(
            terminated.error_code,  # type: ignore[union-attr]
            (ErrorCodes.ENHANCE_YOUR_CALM, ErrorCodes.PROTOCOL_ERROR,
             ErrorCodes.COMPRESSION_ERROR, ErrorCodes.FRAME_SIZE_ERROR),
        )  # fmt: skip
        self.assertTrue(client.transport.disconnecting)
        self.assertEqual(client.factory.counts.refusals[cause], 1)

    def test_rapidReset(self) -> None:
        """
        Streams opened and reset at once (CVE-2023-44487): past the bucket,
        GOAWAY; the work of each is cancelled.
        """
        client = Client()
        for _ in range(int(Defences.RESET_BURST) + 10):
            if client.goAway():
                break
            stream = client.h2.get_next_available_stream_id()
            client.h2.send_headers(
                stream, [(b":method", b"GET"), (b":path", b"/sleep"),
                         (b":scheme", b"http"), (b":authority", b"t")],
            )  # fmt: skip
            client.h2.reset_stream(stream)
            client.exchange()
        self.assertCalmed(client, "rapid_reset")
        self.assertEqual(client.protocol.requestsInFlight, 0)

    def test_provokedResets(self) -> None:
        """
        Streams the server must reset because of what the client sent
        (DATA after the client ended them: MadeYouReset, CVE-2025-8671)
        have their work cancelled, and count in the same bucket as the
        client's own resets: past it, GOAWAY.
        """
        client = Client()
        for _ in range(int(Defences.RESET_BURST) + 10):
            if client.goAway():
                break
            stream = client.get(b"/sleep")
            late = DataFrame(stream)
            late.data = b"x"
            client.raw(late.serialize())
        self.assertCalmed(client, "rapid_reset")
        self.assertEqual(client.protocol.requestsInFlight, 0)
        timers = [call.func for call in client.clock.getDelayedCalls()]
        self.assertEqual(timers, [client.factory.deadlines._fire])  # no /sleep

    def test_pingFlood(self) -> None:
        """
        PINGs past 1,000 in a burst (CVE-2019-9512): GOAWAY.
        """
        client = Client()
        for number in range(int(Defences.FRAME_BURST) + 10):
            if client.goAway():
                break
            client.h2.ping(number.to_bytes(8, "big"))
            client.exchange()
        self.assertCalmed(client, "control_flood")

    def test_settingsFlood(self) -> None:
        """
        SETTINGS frames past the bound (CVE-2019-9515): GOAWAY.
        """
        client = Client()
        for _ in range(int(Defences.FRAME_BURST) + 10):
            if client.goAway():
                break
            client.h2.update_settings({SettingCodes.ENABLE_PUSH: 0})
            client.exchange()
        self.assertCalmed(client, "control_flood")

    def test_emptyFrames(self) -> None:
        """
        Empty DATA frames (CVE-2019-9518): GOAWAY.
        """
        client = Client()
        stream = client.get(b"/", method=b"POST", end=False)
        empty = DataFrame(stream)
        empty.data = b""
        for _ in range(int(Defences.FRAME_BURST) + 10):
            if client.goAway():
                break
            client.raw(empty.serialize())
        self.assertCalmed(client, "control_flood")

    def test_continuationFlood(self) -> None:
        """
        A header block in endless CONTINUATION frames (CVE-2024-27316):
        h2's bound, then GOAWAY.
        """
        client = Client()
        headers = HeadersFrame(1)
        headers.data = client.h2.encoder.encode(
            [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http")]
        )
        client.raw(headers.serialize())
        for _ in range(200):
            if client.goAway() or client.transport.disconnecting:
                break
            continuation = ContinuationFrame(1)
            continuation.data = client.h2.encoder.encode([(b"x-a", b"b" * 100)])
            client.raw(continuation.serialize())
        self.assertTrue(client.transport.disconnecting)
        self.assertEqual(client.factory.counts.refusals["protocol_error"], 1)

    def test_hpackBomb(self) -> None:
        """
        A header list far past the advertised maximum (an HPACK bomb
        decodes small fields into a huge list): GOAWAY, nothing answered.
        """
        client = Client()
        headers = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
                   (b":authority", b"t")]  # fmt: skip
        client.h2.send_headers(1, headers + [(b"x-bomb", b"a" * 4000)] * 30)
        client.exchange()
        self.assertTrue(client.transport.disconnecting)
        terminated = client.goAway()
        assert terminated is not None
        self.assertEqual(terminated.error_code, ErrorCodes.ENHANCE_YOUR_CALM)
        self.assertEqual(client.factory.counts.refusals["protocol_error"], 1)

    def test_oversizedFrameNotBuffered(self) -> None:
        """
        A frame longer than the largest allowed is refused as soon as more
        than that has arrived, not buffered whole first (h2 checks a
        frame's length only once it is complete).
        """
        client = Client()
        client.raw(b"\xff\xff\xff\x00\x00\x00\x00\x00\x01" + b"x" * 16384)
        self.assertFalse(client.transport.disconnecting)
        client.raw(b"x" * 100)
        self.assertTrue(client.transport.disconnecting)
        self.assertEqual(client.factory.counts.refusals["protocol_error"], 1)

    def test_otherConnectionsUnaffected(self) -> None:
        """
        One connection cut for abuse leaves another of the same factory
        serving.
        """
        clock = Clock()
        factory = makeFactory(clock)
        bad, good = Client(factory, clock), Client(factory, clock)
        for number in range(int(Defences.FRAME_BURST) + 10):
            if bad.goAway():
                break
            bad.h2.ping(number.to_bytes(8, "big"))
            bad.exchange()
        self.assertTrue(bad.transport.disconnecting)
        self.assertEqual(good.answer(good.get())[1], HELLO)


class BoundsTests(SynchronousTestCase):
    def test_tokenBucket(self) -> None:
        """
        A bucket lets its burst through, then its rate.
        """
        bucket = TokenBucket(3, 1, now=0)
        self.assertEqual([bucket.take(0) for _ in range(4)], [True, True, True, False])
        self.assertTrue(bucket.take(1.0))
        self.assertFalse(bucket.take(1.0))
        self.assertTrue(bucket.take(100))
