"""
HTTP/3 (C{--http3}) in memory: an aioquic client and hello's QUIC endpoint
exchange datagrams through lists on a C{task.Clock}
(L{tests.support.quicpair}).  The same answers as HTTP/1.1 and HTTP/2, a
stream error for a malformed request, a cancelled stream that costs only
itself, the drain by GOAWAY, and every bound on who may connect.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from aioquic.buffer import Buffer
from aioquic.quic.packet import (
    QuicPacketType,
    QuicProtocolVersion,
    pull_quic_header,
)
from hypothesis import given, settings
from hypothesis.strategies import binary, integers, lists, tuples
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from hello_service.connection.accesslog import AccessLog
from hello_service.connection.deadlines import Timeouts
from hello_service.connection.http2.defences import Defences
from hello_service.connection.http3 import missing
from hello_service.connection.http3.admission import (
    TOKEN_LIFETIME,
    RetryBudget,
    RetryTokens,
)
from hello_service.connection.http3.quic import CID_LENGTH, _Window, workerOf
from hello_service.connection.http3.settings import HTTP3Settings
from hello_service.connection.limits import ConnectionLimiter
from hello_service.http.requests import RequestLimits

from .support.builders import HELLO, HELLO_ETAG, NOT_FOUND, makeFactory
from .support.http3client import requestFields
from .support.quicpair import CLIENT, Client, makeEndpoint

H3_MESSAGE_ERROR = 0x10E
H3_REQUEST_REJECTED = 0x10B
H3_NO_ERROR = 0x100


def fields(path: bytes = b"/", method: bytes = b"GET", **extra: bytes) -> list:
    return requestFields(path, method) + [
        (name.replace("_", "-").encode(), value) for name, value in extra.items()
    ]


class AnswersTests(SynchronousTestCase):
    def test_sameAnswerAsHTTP1(self) -> None:
        """
        C{GET /} over HTTP/3 is the hello page with the fields HTTP/1.1
        sends, less the connection-specific ones.
        """
        answer = Client(makeEndpoint()).connect().request()
        self.assertEqual((answer.status, answer.body, answer.ended), (200, HELLO, True))
        self.assertEqual(answer.header(b"content-type"), b"text/html; charset=utf-8")
        self.assertEqual(answer.header(b"content-length"), b"%d" % len(HELLO))
        self.assertEqual(answer.header(b"etag"), HELLO_ETAG)
        self.assertIsNone(answer.header(b"connection"))

    def test_headNotFoundAndMethodNotAllowed(self) -> None:
        """
        C{HEAD} gets the fields and no body; an unknown path the 404 page;
        another method 405 with C{Allow}.
        """
        client = Client(makeEndpoint()).connect()
        head = client.request(fields(method=b"HEAD"))
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(head.header(b"content-length"), b"%d" % len(HELLO))
        missingPage = client.request(fields(b"/nothing"))
        self.assertEqual((missingPage.status, missingPage.body), (404, NOT_FOUND))
        other = client.request(fields(method=b"DELETE"))
        self.assertEqual(other.status, 405)
        self.assertIn(b"GET", other.header(b"allow") or b"")

    def test_conditionalAndRange(self) -> None:
        """
        A matching C{If-None-Match} gets 304; a range 206 with its part.
        """
        client = Client(makeEndpoint()).connect()
        notModified = client.request(fields(if_none_match=HELLO_ETAG))
        self.assertEqual((notModified.status, notModified.body), (304, b""))
        part = client.request(fields(range=b"bytes=0-4"))
        self.assertEqual((part.status, part.body), (206, HELLO[:5]))

    def test_accessLineAndCountsSayHTTP3(self) -> None:
        """
        Each stream is one access-log line, as C{HTTP/3}, and is counted
        among the answers sent over HTTP/3.
        """
        clock = Clock()
        with capturedLogs() as events:
            factory = makeFactory(clock, accessLog=AccessLog(clock))
            client = Client(makeEndpoint(clock, factory)).connect()
            client.request()
            client.request(fields(b"/nothing"))
            factory.accessLog.flush()
        lines = "\n".join(formatEvent(e) for e in events)
        self.assertIn(f'"GET / HTTP/3" 200 {len(HELLO)}', lines)
        self.assertIn('"GET /nothing HTTP/3" 404', lines)
        figures = factory.counts.figures()
        self.assertEqual(
            sorted(figures["http3Kinds"]), [["/", "200", 1], ["other", "404", 1]]
        )
        self.assertEqual(figures["http2Kinds"], [])

    def test_slowStreamHoldsUpNobody(self) -> None:
        """
        A C{/sleep} on one stream does not hold up a C{/} sent after it on
        another: it is answered at once, the sleep when its time comes.
        """
        client = Client(makeEndpoint()).connect()
        slow = client.send(fields(b"/sleep"))
        fast = client.send()
        client.pump()
        self.assertEqual(client.answers[fast].status, 200)
        self.assertNotIn(slow, client.answers)
        client.advance(5)
        self.assertEqual(client.answers[slow].status, 200)

    def test_limits(self) -> None:
        """
        The request limits mean what they mean for HTTP/1.1: a body over
        C{maxBody} is 413, a field list over C{maxHead} 431.
        """
        factory = makeFactory(requestLimits=RequestLimits(maxBody=10, maxHead=400))
        client = Client(makeEndpoint(factory=factory)).connect()
        streamId = client.send(fields(method=b"POST"), body=b"x" * 11)
        client.pump()
        self.assertEqual(client.answers[streamId].status, 413)
        large = client.request(fields(cookie=b"c" * 500))
        self.assertEqual(large.status, 431)
        self.assertEqual(client.request().status, 200)


class MalformedTests(SynchronousTestCase):
    #: Field lists RFC 9114 section 4.1.2 calls malformed, by why.
    MALFORMED = {
        "no :scheme": [f for f in requestFields() if f[0] != b":scheme"],
        "no :path": [f for f in requestFields() if f[0] != b":path"],
        "no :authority": [f for f in requestFields() if f[0] != b":authority"],
        "upper-case name": requestFields() + [(b"User-Agent", b"x")],
        "connection-specific": requestFields() + [(b"connection", b"close")],
        "te not trailers": requestFields() + [(b"te", b"gzip")],
        "pseudo after regular": [(b"x", b"y"), *requestFields()],
        "unknown pseudo": requestFields() + [(b":colour", b"blue")],
    }

    def test_streamErrorNotAnswer(self) -> None:
        """
        Each malformed request is a stream error (H3_MESSAGE_ERROR, counted
        as C{malformed}), never an answer, and the connection goes on.
        """
        endpoint = makeEndpoint()
        client = Client(endpoint).connect()
        for why, malformed in self.MALFORMED.items():
            answer = client.request(malformed)
            self.assertEqual((answer.status, answer.reset), (0, H3_MESSAGE_ERROR), why)
            self.assertIsNone(client.terminated, why)
            self.assertEqual(client.request().status, 200, why)
        self.assertEqual(
            endpoint.factory.counts.refusals["malformed"], len(self.MALFORMED)
        )


class CancelTests(SynchronousTestCase):
    def test_cancelledStreamCostsOnlyItself(self) -> None:
        """
        A client cancels a C{/sleep} (RESET_STREAM and STOP_SENDING, as a
        browser leaving a page does): its work is cancelled, nothing is
        sent on it, and the connection and the server go on serving.
        """
        endpoint = makeEndpoint()
        clock = endpoint._clock
        client = Client(endpoint).connect()
        slow = client.send(fields(b"/sleep"))
        client.pump()
        self.assertEqual(len(clock.getDelayedCalls()), 2)  # the sleep, QUIC's timer
        client.cancel(slow)
        self.assertEqual(endpoint.factory.requestsInFlight(), 0)
        self.assertEqual(len(clock.getDelayedCalls()), 1)  # the sleep is gone
        client.advance(5)
        self.assertEqual(client.answers[slow].headers, [])  # nothing but the reset
        self.assertIsNone(client.terminated)
        self.assertEqual(client.request().status, 200)
        self.assertEqual(
            Client(endpoint, ("10.0.0.8", 1)).connect().request().status, 200
        )

    def test_rapidResetBounded(self) -> None:
        """
        Streams opened and cancelled faster than the reset budget end the
        connection (H3_EXCESSIVE_LOAD, counted as C{rapid_reset}).
        """
        self.patch(Defences, "RESET_BURST", 5.0)
        endpoint = makeEndpoint()
        client = Client(endpoint).connect()
        for _ in range(6):
            client.cancel(client.send(fields(b"/sleep")))
        client.advance(3)  # QUIC's closing period
        self.assertEqual(endpoint.factory.counts.refusals["rapid_reset"], 1)
        self.assertIsNotNone(client.terminated)
        self.assertEqual(client.terminated.error_code, 0x107)  # type: ignore[union-attr]


class IdleTests(SynchronousTestCase):
    def test_idleTimeoutCloses(self) -> None:
        """
        A connection with nothing in flight for C{--idle-timeout} is closed
        as a drain closes it (GOAWAY, then CONNECTION_CLOSE), counted as
        C{idle_timeout}; one with a request in flight is not idle.
        """
        factory = makeFactory(Clock(), timeouts=Timeouts(idle=2.0))
        endpoint = makeEndpoint(factory=factory)
        client = Client(endpoint).connect()
        slow = client.send(fields(b"/sleep"))
        client.pump()
        client.advance(4)
        self.assertEqual(factory.counts.refusals["idle_timeout"], 0)
        client.advance(1.1)
        self.assertEqual(client.answers[slow].status, 200)
        client.advance(1)
        self.assertEqual(factory.counts.refusals["idle_timeout"], 0)
        client.advance(1.1)
        self.assertEqual(factory.counts.refusals["idle_timeout"], 1)
        self.assertEqual(client.goAway, [4])
        self.assertEqual(factory.connections, set())


class DrainTests(SynchronousTestCase):
    def test_goAwayThenInFlightFinishThenClose(self) -> None:
        """
        Draining, the server sends GOAWAY naming the first stream it will
        not serve; a stream in flight finishes, one opened after is
        rejected with H3_REQUEST_REJECTED, then CONNECTION_CLOSE.
        """
        endpoint = makeEndpoint()
        factory = endpoint.factory
        client = Client(endpoint).connect()
        slow = client.send(fields(b"/sleep"))
        client.pump()
        drained = factory.drain()
        client.pump()
        self.assertEqual(client.goAway, [slow + 4])
        late = client.request()
        self.assertEqual((late.status, late.reset), (0, H3_REQUEST_REJECTED))
        self.assertNoResult(drained)
        client.advance(5)
        self.assertEqual(client.answers[slow].status, 200)
        self.successResultOf(drained)
        client.advance(3)  # QUIC's closing period
        self.assertEqual(client.terminated.error_code, H3_NO_ERROR)  # type: ignore[union-attr]

    def test_idleConnectionClosesAtOnce(self) -> None:
        """
        A connection with nothing in flight closes as the drain begins.
        """
        endpoint = makeEndpoint()
        client = Client(endpoint).connect()
        client.request()
        drained = endpoint.factory.drain()
        client.pump()
        self.successResultOf(drained)
        self.assertEqual(client.goAway, [4])
        client.advance(3)  # QUIC's closing period
        self.assertIsNotNone(client.terminated)

    def test_drainDuringHandshake(self) -> None:
        """
        A connection still shaking hands when the drain begins gets its
        GOAWAY as soon as it speaks HTTP/3, then closes.
        """
        endpoint = makeEndpoint()
        client = Client(endpoint)
        ((first, _),) = client.quic.datagrams_to_send(client.clock.seconds())
        endpoint.datagramReceived(first, CLIENT)
        drained = endpoint.factory.drain()
        client.pump()
        self.assertEqual(client.goAway, [0])
        self.successResultOf(drained)

    def test_newConnectionsRefusedWhileDraining(self) -> None:
        """
        Once the service drains, new Initials open nothing.
        """
        endpoint = makeEndpoint()
        endpoint.closedToNew = True
        client = Client(endpoint).connect()
        self.assertEqual(endpoint.sessions, set())
        self.assertGreater(endpoint.factory.counts.refusals["quic_draining"], 0)
        self.assertIsNone(client.terminated)


def initialFrom(address: tuple[str, int] = CLIENT) -> bytes:
    """A client's first datagram, as aioquic sends it."""
    client = Client(makeEndpoint(), address)
    ((datagram, _),) = client.quic.datagrams_to_send(client.clock.seconds())
    return datagram


class EndpointTests(SynchronousTestCase):
    def test_garbageCostsNothing(self) -> None:
        """
        Datagrams that are no QUIC packet, short-header packets for no
        connection, and Initials in datagrams too small to be a client's
        first are dropped, counted, and keep no state.
        """
        endpoint = makeEndpoint()
        for garbage in [b"", b"\x00", os.urandom(50), b"\x40" + os.urandom(30)]:
            endpoint.datagramReceived(garbage, CLIENT)
        endpoint.datagramReceived(initialFrom()[:1000], CLIENT)
        refusals = endpoint.factory.counts.refusals
        self.assertEqual(
            refusals["quic_garbage"] + refusals["quic_unknown_connection"], 5
        )
        self.assertEqual((endpoint.sessions, endpoint.transport.sent), (set(), []))  # type: ignore[union-attr]

    def test_undecryptableInitialKeepsNothing(self) -> None:
        """
        An Initial whose payload cannot be decrypted (its header a
        client's, the rest noise) is answered with nothing, and nothing of
        it is kept.
        """
        endpoint = makeEndpoint()
        datagram = bytearray(initialFrom())
        datagram[60:] = os.urandom(len(datagram) - 60)
        endpoint.datagramReceived(bytes(datagram), CLIENT)
        self.assertEqual(endpoint.sessions, set())
        self.assertEqual(endpoint.transport.sent, [])  # type: ignore[union-attr]
        self.assertEqual(endpoint.factory.counts.refusals["quic_undecryptable"], 1)
        self.assertEqual(endpoint.factory.connections, set())
        self.assertEqual(endpoint.factory.counts.connections, 0)

    def test_aioquicRaisingIsGarbage(self) -> None:
        """
        What aioquic raises on a datagram it did not expect (before 1.7, an
        C{AssertionError} for a corrupted Initial's coalesced packets) is
        that datagram dropped and counted, never a traceback; a connection
        open meanwhile goes on.
        """
        from aioquic.quic.connection import QuicConnection

        endpoint = makeEndpoint()
        client = Client(endpoint).connect()
        real = QuicConnection.receive_datagram

        def raising(self: Any, data: bytes, addr: Any, now: float) -> None:
            raise AssertionError("first packet must be INITIAL")

        self.patch(QuicConnection, "receive_datagram", raising)
        endpoint.datagramReceived(initialFrom(("10.0.0.9", 1)), ("10.0.0.9", 1))
        (session,) = endpoint.sessions
        endpoint.datagramReceived(b"\x40" + session.quic.host_cid + bytes(30), CLIENT)
        self.assertEqual(endpoint.factory.counts.refusals["quic_garbage"], 2)
        self.patch(QuicConnection, "receive_datagram", real)
        self.assertEqual(client.request().status, 200)

    def test_versionNegotiation(self) -> None:
        """
        A client's first datagram in an unknown version is answered with a
        Version Negotiation packet listing versions 1 and 2; one too small
        to be a first datagram with nothing (no amplification).
        """
        endpoint = makeEndpoint()
        datagram = bytearray(initialFrom())
        datagram[1:5] = b"\x1a\x2a\x3a\x4a"
        endpoint.datagramReceived(bytes(datagram[:1100]), CLIENT)
        self.assertEqual(endpoint.transport.sent, [])  # type: ignore[union-attr]
        endpoint.datagramReceived(bytes(datagram), CLIENT)
        ((answer, to),) = endpoint.transport.sent  # type: ignore[union-attr]
        header = pull_quic_header(Buffer(data=answer), host_cid_length=CID_LENGTH)
        self.assertEqual(header.packet_type, QuicPacketType.VERSION_NEGOTIATION)
        self.assertEqual(
            sorted(header.supported_versions),
            sorted([QuicProtocolVersion.VERSION_1, QuicProtocolVersion.VERSION_2]),
        )
        self.assertEqual(to, CLIENT)
        self.assertLess(len(answer), len(datagram))
        self.assertEqual(endpoint.sessions, set())

    def test_retryPastTheBound(self) -> None:
        """
        Past C{retryAbove} handshakes in progress, a new client gets a
        Retry; aioquic's client sends the token back and is served.
        """
        endpoint = makeEndpoint(settings=HTTP3Settings(retryAbove=0))
        client = Client(endpoint).connect()
        self.assertEqual(endpoint.factory.counts.refusals["quic_retry"], 1)
        self.assertEqual(client.request().status, 200)

    def test_retryTokenBoundToAddress(self) -> None:
        """
        A token sent back from another address opens nothing (counted as
        C{quic_invalid_token}).
        """
        endpoint = makeEndpoint(settings=HTTP3Settings(retryAbove=0))
        client = Client(endpoint)
        ((first, _),) = client.quic.datagrams_to_send(client.clock.seconds())
        endpoint.datagramReceived(first, CLIENT)
        ((retry, _),) = endpoint.transport.sent  # type: ignore[union-attr]
        endpoint.transport.sent = []  # type: ignore[union-attr]
        client.quic.receive_datagram(retry, ("127.0.0.1", 443), client.clock.seconds())
        ((second, _),) = client.quic.datagrams_to_send(client.clock.seconds())
        endpoint.datagramReceived(second, ("10.9.9.9", 50000))
        self.assertEqual(endpoint.factory.counts.refusals["quic_invalid_token"], 1)
        self.assertEqual(endpoint.sessions, set())

    def test_retriesPerSecondCapped(self) -> None:
        """
        A flood of Initials is answered with at most C{retriesPerSecond}
        Retries a second; the rest are dropped and counted.
        """
        endpoint = makeEndpoint(
            settings=HTTP3Settings(retryAbove=0, retriesPerSecond=3)
        )
        first = initialFrom()
        for port in range(10):
            endpoint.datagramReceived(first, ("10.0.0.9", port))
        refusals = endpoint.factory.counts.refusals
        self.assertEqual((refusals["quic_retry"], refusals["quic_retry_rate"]), (3, 7))
        self.assertEqual(len(endpoint.transport.sent), 3)  # type: ignore[union-attr]
        for data, _ in endpoint.transport.sent:  # type: ignore[union-attr]
            self.assertLess(len(data), len(first))  # never amplified

    def test_handshakesCapped(self) -> None:
        """
        Past C{maxHandshakes} handshakes in progress, new Initials are
        dropped and counted; one completing frees its place.
        """
        endpoint = makeEndpoint(settings=HTTP3Settings(maxHandshakes=2, retryAbove=100))
        for port in range(3):
            endpoint.datagramReceived(
                initialFrom(("10.0.0.9", port)), ("10.0.0.9", port)
            )
        self.assertEqual(endpoint.factory.counts.refusals["quic_handshakes"], 1)
        self.assertEqual(len(endpoint.factory.connections), 2)

    def test_connectionLimitCountsQUIC(self) -> None:
        """
        C{--max-connections} counts QUIC connections: past it, a new one is
        refused with CONNECTION_CLOSE (CONNECTION_REFUSED), and counted.
        """
        factory = makeFactory(connectionLimiter=ConnectionLimiter(1))
        endpoint = makeEndpoint(factory=factory)
        first = Client(endpoint).connect()
        second = Client(endpoint, ("10.0.0.8", 1)).connect()
        second.advance(3)  # QUIC's closing period
        self.assertEqual(first.request().status, 200)
        self.assertEqual(second.terminated.error_code, 0x2)  # type: ignore[union-attr]
        self.assertEqual(factory.counts.refusals["connection_limit"], 1)
        self.assertEqual(len(factory.connections), 1)

    def test_fullSocketBufferIsALostPacket(self) -> None:
        """
        A send that fails with EAGAIN is a lost packet, counted, never an
        error; QUIC's loss recovery sends it again once the buffer drains.
        """
        endpoint = makeEndpoint()
        client = Client(endpoint).connect()
        endpoint.transport.full = True  # type: ignore[union-attr]
        streamId = client.send()
        client.pump()
        self.assertGreater(endpoint.factory.counts.refusals["quic_send_dropped"], 0)
        self.assertNotIn(streamId, client.answers)
        endpoint.transport.full = False  # type: ignore[union-attr]
        for _ in range(10):
            client.advance(0.5)
        self.assertEqual(client.answers[streamId].status, 200)


class AmplificationTests(SynchronousTestCase):
    def test_threeTimesBeforeValidation(self) -> None:
        """
        A client's first datagram from an address that never answers (a
        forged one) draws at most three times its size from the server, its
        retransmissions included (RFC 9000 section 8.1), and the connection
        is forgotten, without a word, at the header timeout.
        """
        endpoint = makeEndpoint()
        first = initialFrom()
        endpoint.datagramReceived(first, CLIENT)
        for _ in range(200):
            endpoint._clock.advance(1)  # type: ignore[attr-defined]
        sent = sum(len(data) for data, _ in endpoint.transport.sent)  # type: ignore[union-attr]
        self.assertGreater(sent, 0)
        self.assertLessEqual(sent, 3 * len(first))
        self.assertEqual(endpoint.sessions, set())
        self.assertEqual(endpoint.factory.connections, set())
        self.assertEqual(endpoint.factory.counts.refusals["header_timeout"], 1)

    def test_brokenRuleCounted(self) -> None:
        """
        A client that breaks a rule of HTTP/3 (a second control stream)
        ends its connection in error, counted as C{protocol_error}.
        """
        endpoint = makeEndpoint()
        client = Client(endpoint).connect()
        stream = client.quic.get_next_available_stream_id(is_unidirectional=True)
        client.quic.send_stream_data(stream, b"\x00")  # another control stream
        client.pump()
        client.advance(3)
        self.assertEqual(endpoint.factory.counts.refusals["protocol_error"], 1)
        self.assertEqual(client.terminated.error_code, 0x103)  # type: ignore[union-attr]


class ConnectionIdTests(SynchronousTestCase):
    def test_idsNameTheirWorker(self) -> None:
        """
        Every connection ID a worker issues starts with its number.
        """
        endpoint = makeEndpoint(worker=7)
        Client(endpoint).connect()
        (session,) = endpoint.sessions
        issued = [cid.cid for cid in session.quic._host_cids]
        self.assertGreater(len(issued), 1)
        self.assertEqual({workerOf(cid) for cid in issued}, {7})

    def test_retiredIdsForgotten(self) -> None:
        """
        A client that moves to a new connection ID again and again (each
        move retires one): the endpoint's map of IDs stays bounded, and
        the connection goes on.
        """
        endpoint = makeEndpoint()
        client = Client(endpoint).connect()
        for _ in range(100):
            client.quic.change_connection_id()
            self.assertEqual(client.request().status, 200)
        self.assertLessEqual(len(endpoint._sessions), 10)
        self.assertIsNone(client.terminated)

    def test_otherWorkersPacketCounted(self) -> None:
        """
        A short-header packet for a connection another worker issued is
        counted as such (its client's address changed) and dropped.
        """
        endpoint = makeEndpoint(worker=1)
        endpoint.datagramReceived(b"\x40" + bytes([2]) + os.urandom(40), CLIENT)
        endpoint.datagramReceived(b"\x40" + bytes([1]) + os.urandom(40), CLIENT)
        refusals = endpoint.factory.counts.refusals
        self.assertEqual(
            (refusals["quic_other_worker"], refusals["quic_unknown_connection"]), (1, 1)
        )


class LimitsTests(SynchronousTestCase):
    def test_streamLimitsAnnounced(self) -> None:
        """
        The client may open C{--max-concurrent-streams} request streams at
        once, and six unidirectional ones.
        """
        client = Client(makeEndpoint()).connect()
        self.assertEqual(client.quic._remote_max_streams_bidi, 100)
        self.assertEqual(client.quic._remote_max_streams_uni, 6)

    def test_streamWindowNeverRaised(self) -> None:
        """
        A stream's receive window stays what was announced, the largest
        body read and a little: a client's sparse frames cannot inflate it
        (aioquic issue 589).
        """
        endpoint = makeEndpoint()
        client = Client(endpoint).connect()
        streamId = client.send(fields(method=b"POST"), body=b"x" * 60000, end=False)
        client.pump()
        (session,) = endpoint.sessions
        stream = session.quic._streams[streamId]
        self.assertEqual(stream.max_stream_data_local, 64 * 1024 + 1024)
        self.assertEqual(
            client.quic._streams[streamId].max_stream_data_remote, 64 * 1024 + 1024
        )

    def test_connectionWindowGrowsByUse(self) -> None:
        """
        The connection's window grows to what was used plus one window,
        never by doubling, and never shrinks.
        """
        window = _Window(0x10, "max_data", 1000)
        window.used = 600
        window.value *= 2  # aioquic's raise
        self.assertEqual(window.value, 1600)
        window.used = 50000
        window.value *= 2
        self.assertEqual(window.value, 3200)
        window.value = 10
        self.assertEqual(window.value, 3200)


class AdmissionTests(SynchronousTestCase):
    def test_tokensOpenOnlyTheirOwn(self) -> None:
        """
        A token opens a connection for the address it was issued to, sent
        to the ID the Retry gave, while fresh, under the same key: then it
        gives the ID the client first chose.
        """
        key = os.urandom(16)
        tokens = RetryTokens(key)
        token = tokens.issue(("10.0.0.1", 5), b"original", b"retryid1", 100.0)
        self.assertEqual(
            RetryTokens(key).open(token, ("10.0.0.1", 5), b"retryid1", 101.0),
            b"original",
        )
        for address, destination, now, opener in [
            (("10.0.0.2", 5), b"retryid1", 101.0, tokens),
            (("10.0.0.1", 6), b"retryid1", 101.0, tokens),
            (("10.0.0.1", 5), b"retryid2", 101.0, tokens),
            (("10.0.0.1", 5), b"retryid1", 100.0 + TOKEN_LIFETIME + 1, tokens),
            (("10.0.0.1", 5), b"retryid1", 101.0, RetryTokens(os.urandom(16))),
        ]:
            self.assertIsNone(opener.open(token, address, destination, now))
        self.assertIsNone(tokens.open(b"short", ("10.0.0.1", 5), b"retryid1", 101.0))
        forged = token[:-1] + bytes([token[-1] ^ 1])
        self.assertIsNone(tokens.open(forged, ("10.0.0.1", 5), b"retryid1", 101.0))

    def test_retryBudget(self) -> None:
        budget = RetryBudget(2, 0.0)
        self.assertEqual([budget.take(0.0) for _ in range(3)], [True, True, False])
        self.assertTrue(budget.take(0.5))

    def test_missingNamesTheExtra(self) -> None:
        """
        Without aioquic, C{--http3} is refused in one line naming what to
        install.
        """
        saved = sys.modules["aioquic"]
        sys.modules["aioquic"] = None  # type: ignore[assignment]
        self.addCleanup(sys.modules.__setitem__, "aioquic", saved)
        self.assertEqual(
            missing(),
            "--http3 needs aioquic, which this install lacks "
            "(pip install 'hello-service[http3]')",
        )


class AltSvcTests(SynchronousTestCase):
    def test_tlsAnswersAdvertiseHTTP3(self) -> None:
        """
        An answer on a TLS connection to a port serving HTTP/3 carries
        C{Alt-Svc} with that port, in its head; another port's does not.
        """
        factory = makeFactory()
        factory.altSvc[8443] = b'h3=":8443"; ma=86400'
        for port, expected in [(8443, True), (9443, False)]:
            protocol = factory.buildProtocol(None)
            transport = StringTransport(
                hostAddress=IPv4Address("TCP", "127.0.0.1", port),
                peerAddress=IPv4Address("TCP", "127.0.0.1", 40000),
            )
            protocol.makeConnection(transport)
            protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            head, _, body = transport.value().partition(b"\r\n\r\n")
            self.assertEqual(
                b'\r\nAlt-Svc: h3=":8443"; ma=86400' in head, expected, port
            )
            self.assertEqual(body, HELLO)


class GarbageProperties(SynchronousTestCase):
    """
    Whatever arrives on the UDP port, the endpoint never raises, keeps no
    state for what opens nothing, and a connection open meanwhile goes on.
    """

    @given(datagrams=lists(binary(max_size=1400), max_size=8))
    @settings(max_examples=150, deadline=None)
    def test_anyDatagrams(self, datagrams: list[bytes]) -> None:
        endpoint = makeEndpoint()
        client = Client(endpoint).connect()
        for datagram in datagrams:
            endpoint.datagramReceived(datagram, ("10.1.1.1", 9))
        self.assertEqual(len(endpoint.sessions), 1)
        self.assertEqual(client.request().status, 200)

    @given(
        flips=lists(tuples(integers(0, 1199), integers(1, 255)), min_size=1, max_size=6)
    )
    @settings(max_examples=150, deadline=None)
    def test_corruptedInitials(self, flips: list[tuple[int, int]]) -> None:
        endpoint = makeEndpoint()
        datagram = bytearray(initialFrom())
        for at, mask in flips:
            datagram[at] ^= mask
        endpoint.datagramReceived(bytes(datagram), CLIENT)
        # Opened only if every flip missed what the packet's integrity
        # covers (its padding is not covered, after its last frame).
        for session in endpoint.sessions:
            self.assertTrue(session.quic.readAnything)
        self.assertEqual(
            Client(endpoint, ("10.0.0.9", 1)).connect().request().status, 200
        )
