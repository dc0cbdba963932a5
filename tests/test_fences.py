"""
The private names of Twisted, h2, aioquic and CPython's socket that hello
relies on, each checked for the shape hello expects of it: that it exists, is
the kind of thing hello uses (a method with these parameters, a set, a
queue) and holds what hello reads.  Behaviour tests elsewhere show that
each use works; this module makes an upgrade that renames or reshapes one
fail with the name at fault, not with a symptom three layers away.

Each entry names where hello uses it.  L{docs/design.rst} ("Private names
and the upstream changes that would remove them") says why each is used.
"""

from __future__ import annotations

import inspect
import select
import socket
from typing import Any

from h2.config import H2Configuration
from h2.connection import ConnectionInputs, H2Connection
from h2.stream import H2StreamStateMachine, StreamInputs
from twisted.internet import abstract, endpoints, tcp, unix
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.haproxy import proxyEndpoint
from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import SynchronousTestCase

from hello_service.connection.transport import HelloServer


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


class ReactorTests(SynchronousTestCase):
    """
    C{hello_service/connection/reactor.py}: hello's reactor polls and dispatches as
    Twisted's epoll reactor does, on its private tables.
    """

    def setUp(self) -> None:
        self.reactor = EPollReactor()
        self.addCleanup(self.reactor._poller.close)

    def test_tables(self) -> None:
        self.assertIsInstance(self.reactor._selectables, dict)
        self.assertIsInstance(self.reactor._reads, set)
        self.assertIsInstance(self.reactor._writes, set)
        self.assertIsInstance(self.reactor._poller, type(select.epoll()))

    def test_eventBits(self) -> None:
        self.assertEqual(EPollReactor._POLL_IN, select.EPOLLIN)
        self.assertEqual(EPollReactor._POLL_OUT, select.EPOLLOUT)
        self.assertEqual(
            EPollReactor._POLL_DISCONNECTED,
            select.EPOLLHUP | select.EPOLLERR,
        )

    def test_dispatch(self) -> None:
        self.assertEqual(
            parameters(EPollReactor._doReadOrWrite),
            ["self", "selectable", "fd", "event"],
        )
        self.assertEqual(
            parameters(EPollReactor._disconnectSelectable)[:4],
            ["self", "selectable", "why", "isRead"],
        )


class TransportTests(SynchronousTestCase):
    """
    C{hello_service/connection/transport.py} and C{adopted.py}: hello's lighter TCP
    transport and port, built from Twisted's parts.
    """

    def test_serverInitialisation(self) -> None:
        """
        C{HelloServer.__init__} does what C{tcp.Server.__init__} does, but
        for the log string and the repr it makes only when asked: whatever
        else a release sets there must be set by hello too.
        """
        built = {}
        for kind in (tcp.Server, HelloServer):
            ours, theirs = socket.socketpair()
            self.addCleanup(ours.close)
            self.addCleanup(theirs.close)
            reactor = EPollReactor()
            self.addCleanup(reactor._poller.close)
            port = tcp.Port(0, Factory(), reactor=reactor)
            port._realPortNumber = 0
            server = kind(ours, Protocol(), ("127.0.0.1", 1), port, 1, reactor)
            built[kind] = set(vars(server))
        self.assertEqual(built[tcp.Server] - built[HelloServer], {"logstr", "repstr"})

    def test_connectionInternals(self) -> None:
        self.assertEqual(parameters(tcp.Connection._closeSocket), ["self", "orderly"])
        self.assertEqual(parameters(tcp.Connection._dataReceived), ["self", "data"])
        self.assertEqual(
            parameters(tcp.Connection._getLogPrefix), ["self", "applicationObject"]
        )
        self.assertFalse(tcp.Connection._aborting)
        descriptor = abstract.FileDescriptor()
        self.assertEqual(descriptor._tempDataBuffer, [])
        self.assertEqual((descriptor.offset, descriptor.dataBuffer), (0, b""))

    def test_portInternals(self) -> None:
        self.assertEqual(
            parameters(tcp.Port._fromListeningDescriptor),
            ["reactor", "fd", "addressFamily", "factory"],
        )
        self.assertEqual(
            parameters(unix.Port._fromListeningDescriptor), ["reactor", "fd", "factory"]
        )
        self.assertEqual(parameters(tcp.Port._buildAddr), ["self", "address"])

    def test_socketAccept(self) -> None:
        """
        CPython's C{socket._accept}: the descriptor and address of an
        accepted connection, without the socket object C{accept} builds.
        """
        listening = socket.socket()
        self.addCleanup(listening.close)
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        client = socket.create_connection(listening.getsockname())
        self.addCleanup(client.close)
        descriptor, address = listening._accept()  # type: ignore[attr-defined]
        socket.socket(fileno=descriptor).close()
        self.assertIsInstance(descriptor, int)
        self.assertEqual(address, client.getsockname())


class ListeningTests(SynchronousTestCase):
    """
    C{hello_service/configuration/listening.py}: the address of a C{tcp:} endpoint,
    inside any C{haproxy:} wrapper, for binding one socket per worker.
    """

    def test_endpointAddress(self) -> None:
        endpoint = endpoints.TCP4ServerEndpoint(None, 8080, 17, "127.0.0.1")
        self.assertEqual(
            (endpoint._interface, endpoint._port, endpoint._backlog),
            ("127.0.0.1", 8080, 17),
        )
        self.assertIs(proxyEndpoint(endpoint)._wrappedEndpoint, endpoint)


class ThreadPoolTests(SynchronousTestCase):
    """
    C{hello_service/processes/service.py}: the parallel mode's waiting work, exported
    as C{hello_threadpool_queued}, read through C{ThreadPool.q}: public,
    but kept by Twisted only for compatibility, so checked here too.
    """

    def test_queue(self) -> None:
        pool = ThreadPool(1, 1)
        pool.callInThread(lambda: None)  # not started: it waits
        self.assertEqual(pool.q.qsize(), 1)


class HTTP2Tests(SynchronousTestCase):
    """
    C{hello_service/connection/http2/session.py}: h2's inbound buffer,
    read to refuse an oversized frame before it is buffered whole, and the
    call h2 makes to end a connection after an error, made a no-op so that
    the session sends the one GOAWAY; h2's outgoing buffer and state
    machine inputs, which an answer's frames are written with.
    """

    def test_inboundBuffer(self) -> None:
        connection = H2Connection(H2Configuration(client_side=False))
        connection.initiate_connection()
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        connection.receive_data(preface + b"\x00\x00\x10\x00\x00\x00\x00\x00\x01")
        self.assertEqual(len(connection.incoming_buffer._data), 9)

    def test_terminateConnection(self) -> None:
        self.assertEqual(
            parameters(H2Connection._terminate_connection), ["self", "error_code"]
        )

    def test_outgoingBuffer(self) -> None:
        """
        The session appends an answer's frames to h2's outgoing buffer, a
        bytearray that C{data_to_send} empties, and steps the connection's
        and the stream's state machines with h2's own inputs.
        """
        connection = H2Connection(H2Configuration(client_side=False))
        self.assertIsInstance(connection._data_to_send, bytearray)
        connection._data_to_send += b"frame"
        self.assertEqual(connection.data_to_send(), b"frame")
        self.assertEqual(connection._data_to_send, bytearray())
        for name in ("SEND_HEADERS", "SEND_DATA"):
            self.assertIn(name, ConnectionInputs.__members__)
        for name in ("SEND_HEADERS", "SEND_DATA", "SEND_END_STREAM"):
            self.assertIn(name, StreamInputs.__members__)
        self.assertEqual(
            parameters(H2StreamStateMachine.process_input), ["self", "input_"]
        )


class AioquicTests(SynchronousTestCase):
    """
    C{hello_service/connection/http3/quic.py}: aioquic's connections as a
    server changes them, through these private names.
    """

    def setUp(self) -> None:
        from aioquic.h3.connection import H3Connection
        from aioquic.quic.configuration import QuicConfiguration
        from aioquic.quic.connection import QuicConnection

        from .support.quicpair import credentials

        certificate, key, _ = credentials()
        self.quic = QuicConnection(
            configuration=QuicConfiguration(
                is_client=False, certificate=certificate, private_key=key
            ),
            original_destination_connection_id=b"12345678",
        )
        self.h3 = H3Connection(self.quic)

    def test_connectionIds(self) -> None:
        """The IDs it issues, and how it makes more (worker-tagged IDs)."""
        (first,) = self.quic._host_cids
        self.assertIsInstance(first.cid, bytes)
        self.assertEqual(self.quic._local_initial_source_connection_id, first.cid)
        self.assertIsInstance(self.quic._host_cid_seq, int)
        self.assertIsInstance(self.quic._remote_active_connection_id_limit, int)
        self.assertEqual(parameters(self.quic._replenish_connection_ids), [])

    def test_limits(self) -> None:
        """The stream limits it announces, and its receive windows."""
        from aioquic.quic.connection import Limit

        for limit in (
            self.quic._local_max_streams_bidi,
            self.quic._local_max_streams_uni,
            self.quic._local_max_data,
        ):
            self.assertIsInstance(limit, Limit)
            self.assertEqual(
                sorted(vars(limit)), ["frame_type", "name", "sent", "used", "value"]
            )
        self.assertEqual(
            parameters(self.quic._write_stream_limits), ["builder", "space", "stream"]
        )
        self.assertIsInstance(self.quic._streams, dict)

    def test_packetSpaces(self) -> None:
        """Whether a packet was read: the Initial space's largest received."""
        from aioquic.quic.recovery import QuicPacketSpace

        self.assertIsInstance(self.quic._spaces, dict)
        self.assertEqual(QuicPacketSpace().largest_received_packet, -1)

    def test_http3(self) -> None:
        """The request frames, the settings, the control stream."""
        from aioquic.h3.connection import H3Stream, HeadersState

        self.assertEqual(
            parameters(self.h3._handle_request_or_push_frame),
            ["frame_type", "frame_data", "stream", "stream_ended"],
        )
        self.assertIsInstance(self.h3._get_local_settings(), dict)
        self.assertIsInstance(self.h3._local_control_stream_id, int)
        self.assertEqual(self.h3._max_table_capacity, 4096)
        stream = H3Stream(0)
        self.assertIs(stream.headers_recv_state, HeadersState.INITIAL)
        self.assertIsNone(stream.expected_content_length)
