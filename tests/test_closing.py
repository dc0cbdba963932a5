"""
Every way a connection ends, as one table: each way (an orderly close, a
connection error, the idle, header and write timeouts, the drain) for each
protocol (HTTP/1.1, HTTP/2) on each kind of transport (a plain socket
written directly, and TLS, whose close waits while a producer is
registered).  For each: the transport is closed within the way's bound,
and the connection's place is free again.  The same rule runs against real
processes over every endpoint kind in C{tests.system.test_closing}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from hello_service.connection.protocol import HelloFactory, HelloProtocol

from .support.builders import CLIENT, makeFactory
from .support.doubles import (
    ChokingSocket,
    HalfCloseableTransport,
    PostponingTLSTransport,
)

#: A PING of 7 bytes: a connection error (FRAME_SIZE_ERROR).
BAD_PING = b"\x00\x00\x07\x06\x00\x00\x00\x00\x00" + b"1234567"
#: A header block whose first field is an index past every table.
BAD_HPACK = b"\x00\x00\x01\x01\x05\x00\x00\x00\x01" + b"\xff"


class Connection:
    """
    One connection of a factory on a fake clock, over a transport of one
    kind, speaking one protocol, as a client drives it.
    """

    def __init__(self, transport: str, protocol: str) -> None:
        self.clock = Clock()
        self.factory: HelloFactory = makeFactory(self.clock)
        self.protocolName = protocol
        self.server: HelloProtocol = self.factory.buildProtocol(CLIENT)
        if transport == "tls":
            alpn = b"h2" if protocol == "HTTP/2" else b"http/1.1"
            self.transport: StringTransport = PostponingTLSTransport(
                alpn, peerAddress=CLIENT
            )
            self.socket = None
        else:
            socket = self.socket = ChokingSocket(10**9)
            self.factory.directSocket = lambda transport: socket  # type: ignore[method-assign]
            self.transport = HalfCloseableTransport(peerAddress=CLIENT)
        self.server.makeConnection(self.transport)
        self.h2: H2Connection | None = None
        if protocol == "HTTP/2":
            self.h2 = H2Connection(H2Configuration(client_side=True))
            self.h2.initiate_connection()
            # The preface and the client's settings (sent over TLS too,
            # after ALPN chose h2).
            self.send(self.h2.data_to_send())

    def send(self, data: bytes) -> None:
        self.server.dataReceived(data)

    @property
    def ended(self) -> bool:
        """
        Whether the client has seen the end of the connection: it is closed,
        or its writing side is (a lingering close sends the end and reads on
        to drop what the client still sends: over TLS, the close alert).
        """
        return (
            self.closed
            or getattr(self.transport, "halfClosed", False)
            or (self.socket is None and bool(self.transport.disconnecting))
        )

    @property
    def closed(self) -> bool:
        """
        Whether the connection is closed: over TLS, the TCP connection under
        it (TLS's own close waits for the client's close alert, which may
        never come).
        """
        closing = getattr(self.transport, "transport", self.transport)
        return bool(closing.disconnecting)

    def advance(self, seconds: float) -> None:
        """
        Let C{seconds} pass in steps, so that each deadline starts when the
        one before it fires, as on a real clock.
        """
        end = self.clock.seconds() + seconds
        while self.clock.seconds() < end:
            self.clock.advance(min(0.25, end - self.clock.seconds()))

    def goAwayCodes(self) -> list[int]:
        """
        The error codes of the GOAWAY frames the server wrote.
        """
        data = (self.socket.sent if self.socket else b"") + self.transport.value()
        codes = []
        while len(data) >= 9:
            length = int.from_bytes(data[:3], "big")
            if data[3] == 7:
                codes.append(int.from_bytes(data[13:17], "big"))
            data = data[9 + length :]
        return codes

    def lose(self) -> None:
        """
        The transport reports the connection gone, as it does once closed.
        """
        self.server.connectionLost(Failure(Exception("closed")))


# Each way: what starts it, and the bound it must close within, in seconds
# of the fake clock (the timeouts are the defaults).


def orderly(connection: Connection) -> float:
    """
    HTTP/1.1: a request that asks to close.  HTTP/2: the client's GOAWAY.
    """
    if connection.h2 is None:
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    else:
        connection.h2.close_connection()
        connection.send(connection.h2.data_to_send())
    return 0


def protocolError(connection: Connection) -> float:
    """
    A connection error: a malformed request, or a malformed frame.
    """
    connection.send(b"NOT HTTP\r\n\r\n" if connection.h2 is None else BAD_PING)
    return 0


def idleTimeout(connection: Connection) -> float:
    return connection.factory.timeouts.idle


def headerTimeout(connection: Connection) -> float:
    """
    HTTP/1.1: a request head never finished.  HTTP/2: a stream never
    finished is answered 408, then the idle connection closes.
    """
    timeouts = connection.factory.timeouts
    if connection.h2 is None:
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        return timeouts.header
    connection.h2.send_headers(
        1,
        [
            (":method", "POST"),
            (":path", "/"),
            (":scheme", "https"),
            (":authority", "x"),
        ],
    )
    connection.send(connection.h2.data_to_send())
    return timeouts.header + timeouts.idle


def writeTimeout(connection: Connection) -> float:
    """
    The client stops reading what it is sent.
    """
    connection.server.pauseProducing()
    return connection.factory.timeouts.write


def drain(connection: Connection) -> float:
    """
    The service drains with the connection idle: it closes within the
    drain grace (HTTP/2 at once, after its GOAWAY).
    """
    connection.factory.drain()
    return connection.factory.timeouts.drain


WAYS: dict[str, Callable[[Connection], float]] = {
    "orderly": orderly,
    "error": protocolError,
    "idle": idleTimeout,
    "header": headerTimeout,
    "write": writeTimeout,
    "drain": drain,
}


def closingTest(way: str, transport: str, protocol: str) -> Callable[[Any], None]:
    def test(self: SynchronousTestCase) -> None:
        connection = Connection(transport, protocol)
        bound = WAYS[way](connection)
        connection.advance(bound + 0.001)
        self.assertTrue(connection.ended, f"not ended {bound} s on")
        connection.advance(connection.factory.timeouts.linger + 0.001)
        self.assertTrue(connection.closed, f"still open {bound} s on, and lingering")
        connection.lose()
        self.assertEqual(connection.factory.connections, set())

    test.__doc__ = (
        f"{protocol} over {transport}: the {way} way ends the connection "
        f"within its bound (a lingering close within the linger timeout "
        f"more) and frees its place."
    )
    return test


class ClosingTests(SynchronousTestCase):
    """
    Every way a connection ends, on each transport, for each protocol.
    """

    def test_notBeforeTheBound(self) -> None:
        """
        A timeout is not early: an idle connection is open just before the
        idle timeout, on every transport and protocol.
        """
        for transport in ("tcp", "tls"):
            for protocol in ("HTTP/1.1", "HTTP/2"):
                connection = Connection(transport, protocol)
                connection.advance(connection.factory.timeouts.idle - 0.01)
                self.assertFalse(connection.ended, (transport, protocol))


for _way in WAYS:
    for _transport in ("tcp", "tls"):
        for _protocol in ("HTTP/1.1", "HTTP/2"):
            _name = f"test_{_way}_{_transport}_{_protocol.replace('/', '').replace('.', '')}"
            setattr(ClosingTests, _name, closingTest(_way, _transport, _protocol))


class GoAwayTests(SynchronousTestCase):
    """
    A connection error is one GOAWAY, with the code RFC 9113 names.
    """

    def goAways(self, transport: str, frame: bytes) -> list[int]:
        connection = Connection(transport, "HTTP/2")
        connection.transport.clear()
        connection.send(frame)
        self.assertTrue(connection.closed)
        return connection.goAwayCodes()

    def test_malformedFrame(self) -> None:
        """
        A PING of 7 bytes: one GOAWAY(FRAME_SIZE_ERROR), on both transports.
        """
        for transport in ("tcp", "tls"):
            self.assertEqual(
                self.goAways(transport, BAD_PING), [ErrorCodes.FRAME_SIZE_ERROR]
            )

    def test_undecodableHeaderBlock(self) -> None:
        """
        A header block that cannot be decoded: one GOAWAY(COMPRESSION_ERROR).
        """
        for transport in ("tcp", "tls"):
            self.assertEqual(
                self.goAways(transport, BAD_HPACK), [ErrorCodes.COMPRESSION_ERROR]
            )
