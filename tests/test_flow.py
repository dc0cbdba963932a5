"""
Tests for L{hello_service.connection.flow}: whether a connection reads, and how its
answers reach the socket, on a L{StringTransport}.
"""

from __future__ import annotations

import socket

from twisted.internet import tcp
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from hello_service.connection import flow
from hello_service.connection.flow import FlowControl, ResponseWriter, dropArrivedInput

from .support.doubles import ChokingSocket


class Producer:
    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def flowControl() -> tuple[FlowControl, StringTransport]:
    transport = StringTransport()
    return FlowControl(transport, Producer()), transport  # type: ignore[arg-type]


class FlowControlTests(SynchronousTestCase):
    def test_pauseOnce(self) -> None:
        """
        Pausing twice pauses the transport once; one resume resumes it.
        """
        flow, transport = flowControl()
        flow.pauseReading()
        flow.pauseReading()
        self.assertEqual(transport.producerState, "paused")
        self.assertTrue(flow.readingPaused)
        flow.resumeReading()
        self.assertEqual(transport.producerState, "producing")
        self.assertFalse(flow.readingPaused)

    def test_clientStoppedPausesReading(self) -> None:
        """
        A client that does not read what we write is read no more, until
        the connection decides to read again.
        """
        flow, transport = flowControl()
        flow.clientStopped()
        self.assertTrue(flow.clientNotReading)
        self.assertEqual(transport.producerState, "paused")
        flow.clientReads()
        self.assertFalse(flow.clientNotReading)
        self.assertEqual(transport.producerState, "paused")

    def test_watchingIsUndoneOnce(self) -> None:
        """
        The producer registered to watch the write buffer is unregistered
        once, when the last answer is written.
        """
        flow, transport = flowControl()
        flow.stopWatching()
        self.assertIsNone(transport.producer)
        flow.watchWriteBuffer()
        self.assertIsNotNone(transport.producer)
        flow.stopWatching()
        self.assertIsNone(transport.producer)


class ResponseWriterTests(SynchronousTestCase):
    def test_directWhileItFits(self) -> None:
        """
        Answers that fit the socket go straight to it; the transport gets
        nothing and watches nothing.
        """
        flow, transport = flowControl()
        sock = ChokingSocket(100)
        writer = ResponseWriter(flow, sock)
        writer.write(b"one")
        writer.write(b"two")
        self.assertEqual((sock.sent, transport.value()), (b"onetwo", b""))
        self.assertTrue(writer.direct)
        self.assertIsNone(transport.producer)

    def test_restThroughTransportInOrder(self) -> None:
        """
        What does not fit goes to the transport, and so does everything
        after it, in order; the transport then watches its buffer.
        """
        flow, transport = flowControl()
        sock = ChokingSocket(4)
        writer = ResponseWriter(flow, sock)
        writer.write(b"abcdef")
        writer.write(b"gh")
        self.assertEqual((sock.sent, transport.value()), (b"abcd", b"efgh"))
        self.assertFalse(writer.direct)
        self.assertIsNotNone(transport.producer)

    def test_lastAnswerThroughTransport(self) -> None:
        """
        The last answer goes to the transport, which closes after sending it.
        """
        flow, transport = flowControl()
        sock = ChokingSocket(100)
        writer = ResponseWriter(flow, sock)
        writer.writeLast(b"bye")
        self.assertEqual((sock.sent, transport.value()), (b"", b"bye"))
        self.assertFalse(writer.direct)

    def test_lastAnswerHeldForTheClose(self) -> None:
        """
        On a transport that closes within the read (hello's), the last
        answer goes straight to the socket marked C{MSG_MORE}: the kernel
        holds it for the FIN that follows at once and sends both in one
        segment.  Other answers are sent as they are.
        """
        flow, transport = flowControl()
        transport.closesAtEndOfRead = True  # type: ignore[attr-defined]
        sock = ChokingSocket(100)
        writer = ResponseWriter(flow, sock)
        writer.write(b"one")
        writer.writeLast(b"bye")
        self.assertEqual((sock.sent, transport.value()), (b"onebye", b""))
        self.assertEqual(sock.flags, [0, getattr(socket, "MSG_MORE", 0)])

    def test_noSocketMeansTransport(self) -> None:
        """
        Without a socket (TLS), every answer goes through the transport,
        which is watched from the start.
        """
        flow, transport = flowControl()
        writer = ResponseWriter(flow, None)
        writer.write(b"x")
        self.assertEqual(transport.value(), b"x")
        self.assertIsNotNone(transport.producer)


class Wrapper:
    """
    A transport over another, as TLS and the PROXY wrapper are.
    """

    def __init__(self, transport: object) -> None:
        self.transport = transport


class DropArrivedInputTests(SynchronousTestCase):
    """
    Before the close of an HTTP/2 GOAWAY, the input that has arrived and
    not been read is read and dropped: closed unread, it would make the
    kernel reset the connection, destroying what the client had not yet
    read of the GOAWAY.
    """

    def connection(self) -> tuple[tcp.Connection, socket.socket]:
        ours, client = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(client.close)
        ours.setblocking(False)
        return tcp.Connection(ours, None), client  # type: ignore[arg-type]

    def assertNothingUnread(self, connection: tcp.Connection) -> None:
        with self.assertRaises(BlockingIOError):
            connection.getHandle().recv(1, socket.MSG_DONTWAIT)

    def test_socketLeftEmpty(self) -> None:
        """
        What arrived is read, on the socket itself and under wrappers.
        """
        for depth in range(3):
            connection, client = self.connection()
            client.sendall(b"\x00" * 100_000)
            transport: object = connection
            for _ in range(depth):
                transport = Wrapper(transport)
            dropArrivedInput(transport)
            self.assertNothingUnread(connection)

    def test_bounded(self) -> None:
        """
        A client that keeps sending cannot keep the close reading: at most
        a bound is read.
        """
        self.patch(flow, "_DROPPED_BEFORE_CLOSE", 1000)
        connection, client = self.connection()
        client.sendall(b"\x00" * 5000)
        dropArrivedInput(connection)
        self.assertTrue(connection.getHandle().recv(65536, socket.MSG_DONTWAIT))

    def test_noSocket(self) -> None:
        """
        A transport with no socket under it (a test's) is left alone; a
        client that already closed ends the reading.
        """
        dropArrivedInput(StringTransport())
        connection, client = self.connection()
        client.sendall(b"last")
        client.close()
        dropArrivedInput(connection)
        self.assertEqual(connection.getHandle().recv(1, socket.MSG_DONTWAIT), b"")
