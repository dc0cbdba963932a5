"""
hello's transport for accepted TCP connections (L{hello_service.connection.transport})
on a reactor of its own, driven turn by turn over real loopback sockets:
Twisted's C{ITransport} contract kept (everything written arrives, then the
close; C{connectionLost} once, never inside C{dataReceived}), with a close
inside a read that needs no write registration when nothing is buffered.
"""

from __future__ import annotations

import errno
import socket
import time
from typing import Any

from twisted.internet import tcp, unix
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from hello_service.connection import reactor as helloReactor
from hello_service.connection.transport import HelloPort, HelloServer


def freshReactor(test: SynchronousTestCase) -> Any:
    if helloReactor.EPollReactor is None:
        raise SkipTest("no epoll here: hello's reactor is not used")
    made = helloReactor.HelloEPollReactor()  # type: ignore[no-untyped-call]
    test.addCleanup(made._poller.close)
    return made


class Recorder(Protocol):
    """
    Writes what it is told when data comes, then closes; records what
    happened, in order.
    """

    def __init__(
        self,
        answer: bytes,
        after: bytes = b"",
        direct: bool = False,
        abort: bool = False,
    ) -> None:
        self.answer = answer
        self.after = after
        self.direct = direct
        self.abort = abort
        self.events: list[str] = []
        self.inRead = False

    def dataReceived(self, data: bytes) -> None:
        self.inRead = True
        self.events.append("data")
        self.handle = self.transport.getHandle()  # type: ignore[union-attr]
        if self.direct:  # straight to the socket, as hello's protocol does
            self.handle.send(self.answer)
        else:
            self.transport.write(self.answer)  # type: ignore[union-attr]
        self.transport.loseConnection()  # type: ignore[union-attr]
        if self.after:
            self.transport.write(self.after)  # type: ignore[union-attr]
        if self.abort:
            self.transport.abortConnection()  # type: ignore[union-attr]
        self.events.append("data returned")
        self.inRead = False

    def connectionLost(self, reason: Any) -> None:
        self.events.append(
            "lost inside dataReceived"
            if self.inRead
            else f"lost {reason.type.__name__}"
        )


class RecordingFactory(Factory):
    """
    Makes L{Recorder}s, and keeps the address each was built for.
    """

    def __init__(self, build: Any) -> None:
        self.build = build
        self.addresses: list[Any] = []

    def buildProtocol(self, addr: Any) -> Recorder:
        self.addresses.append(addr)
        made: Recorder = self.build()
        made.factory = self
        return made


class Served:
    def __init__(
        self,
        test: SynchronousTestCase,
        answer: bytes,
        after: bytes = b"",
        direct: bool = False,
        abort: bool = False,
        interface: str = "127.0.0.1",
    ) -> None:
        self.reactor = freshReactor(test)
        self.protocols: list[Recorder] = []
        self.interface = interface

        def build() -> Recorder:
            made = Recorder(answer, after, direct, abort)
            self.protocols.append(made)
            return made

        self.factory = RecordingFactory(build)
        self.port = self.reactor.listenTCP(0, self.factory, interface=interface)
        test.addCleanup(self.port.connectionLost, None)
        self.writers: list[Any] = []
        original = self.reactor.addWriter

        def addWriter(selectable: Any) -> None:
            self.writers.append(selectable)
            original(selectable)

        self.reactor.addWriter = addWriter

    def exchange(self, request: bytes, seconds: float = 5) -> bytes:
        """
        Send C{request} on a new connection; what comes back until the
        server closes.
        """
        client = socket.create_connection((self.interface, self.port.getHost().port))
        self.clientAddress = client.getsockname()
        client.sendall(request)
        client.setblocking(False)
        received = b""
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                self.reactor.iterate(0.01)
                try:
                    chunk = client.recv(1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    return received
                received += chunk
            raise AssertionError(
                f"not closed within {seconds} s: {len(received)} bytes"
            )
        finally:
            client.close()


class HelloServerTests(SynchronousTestCase):
    def test_accepted(self) -> None:
        """
        hello's reactor makes each accepted TCP connection a L{HelloServer},
        from listening and from an adopted socket; UNIX sockets stay
        Twisted's.
        """
        served = Served(self, b"x")
        self.assertIsInstance(served.port, HelloPort)
        served.exchange(b"hi")
        self.assertIsInstance(served.protocols[0].transport, HelloServer)
        adopted = self.adopt(served, socket.AF_INET, ("127.0.0.1", 0))
        self.assertIsInstance(adopted, HelloPort)
        other = self.adopt(served, socket.AF_UNIX, self.mktemp())
        self.assertIsInstance(other, unix.Port)

    def adopt(self, served: Served, family: int, address: Any) -> Any:
        """
        A listening socket of C{family} on C{address}, adopted by the
        reactor, as a worker adopts its inherited sockets.
        """
        listening = socket.socket(family)
        listening.bind(address)
        listening.listen(5)
        listening.setblocking(False)
        self.addCleanup(listening.close)
        adopted = served.reactor.adoptStreamPort(
            listening.fileno(), family, Factory.forProtocol(Protocol)
        )
        self.addCleanup(adopted.connectionLost, None)
        return adopted

    def test_closeAtEndOfReadWithoutWriteRegistration(self) -> None:
        """
        An answer the socket takes whole, then a close inside the read: the
        answer arrives, then the end, and the socket was never registered
        for writing; C{connectionLost} comes once, after C{dataReceived}.
        """
        served = Served(self, b"answer", direct=True)
        self.assertEqual(served.exchange(b"ask"), b"answer")
        self.assertEqual(served.writers, [])
        self.assertEqual(
            served.protocols[0].events, ["data", "data returned", "lost ConnectionDone"]
        )

    def test_closedCleanlyLeavesNothingWatched(self) -> None:
        """
        The close at the end of a read gives the descriptor up: the reactor
        watches no connection any more (the listening port stays), and the
        transport lets go of its socket.
        """
        served = Served(self, b"answer", direct=True)
        for _ in range(3):
            self.assertEqual(served.exchange(b"ask"), b"answer")
        watched = (
            served.reactor.getReaders()
            + served.reactor.getWriters()
            + list(served.reactor._selectables.values())
        )
        self.assertIn(served.port, watched)
        self.assertEqual([w for w in watched if isinstance(w, tcp.Connection)], [])
        for protocol in served.protocols:
            self.assertEqual(protocol.events[-1], "lost ConnectionDone")
            self.assertFalse(hasattr(protocol.transport, "socket"))
            self.assertEqual(protocol.handle.fileno(), -1)  # closed, not left to GC
            self.assertEqual(
                (protocol.transport.connected, protocol.transport.disconnected),  # type: ignore[union-attr]
                (0, 1),
            )

    def test_peerAsTwistedNamesIt(self) -> None:
        """
        The factory is given the peer's address, as Twisted gives it, and
        the transport's C{getPeer} names the same.
        """
        served = Served(self, b"x")
        served.exchange(b"hi")
        host, port = served.clientAddress
        [address] = served.factory.addresses
        self.assertEqual(address, IPv4Address("TCP", host, port))
        transport = served.protocols[0].transport
        self.assertEqual(transport.getPeer(), address)  # type: ignore[union-attr]
        self.assertEqual(transport.client, (host, port))  # type: ignore[union-attr]

    def test_IPv6Peer(self) -> None:
        """
        An IPv6 client's address is an C{IPv6Address}, named as Twisted's
        loop names it.
        """
        if not socket.has_ipv6:
            raise SkipTest("no IPv6 here")
        try:
            served = Served(self, b"six", interface="::1")
        except Exception as error:
            raise SkipTest(f"cannot listen on ::1 here: {error}") from error
        self.assertEqual(served.exchange(b"hi"), b"six")
        [address] = served.factory.addresses
        self.assertIsInstance(address, IPv6Address)
        self.assertEqual((address.host, address.port), served.clientAddress[:2])
        self.assertEqual(served.protocols[0].transport.getPeer(), address)  # type: ignore[union-attr]

    def test_acceptErrorHandedToTwisted(self) -> None:
        """
        An accept error other than "none waiting" hands the turn to
        Twisted's loop, which accepts again and handles each error as it
        always has; the connection waiting is served in that same turn.
        """
        served = Served(self, b"answer", direct=True)
        listener = served.port.socket
        twistedAccepts: list[bool] = []

        class Failing:
            """The listening socket, its first raw accept failing."""

            family = listener.family

            def __init__(self) -> None:
                self.failed = False

            def _accept(self) -> Any:
                if not self.failed:
                    self.failed = True
                    raise OSError(errno.ECONNABORTED, "aborted")
                return listener._accept()

            def accept(self) -> Any:
                twistedAccepts.append(True)
                return listener.accept()

            def __getattr__(self, name: str) -> Any:
                return getattr(listener, name)

        served.port.socket = Failing()
        client = socket.create_connection(("127.0.0.1", served.port.getHost().port))
        self.addCleanup(client.close)
        for _ in range(50):
            served.reactor.iterate(0.01)
            if served.protocols:
                break
        self.assertEqual(len(served.protocols), 1)
        self.assertTrue(twistedAccepts)
        host, port = client.getsockname()
        transport = served.protocols[0].transport
        self.assertEqual(transport.getPeer(), IPv4Address("TCP", host, port))  # type: ignore[union-attr]
        self.assertIs(served.factory.addresses[0].__class__, IPv4Address)
        served.port.socket = listener

    def test_bufferedAnswerSentFirst(self) -> None:
        """
        An answer larger than the socket takes at once is sent whole before
        the close, by Twisted's own path.
        """
        big = b"x" * (8 << 20)
        served = Served(self, big)
        self.assertEqual(len(served.exchange(b"ask", seconds=20)), len(big))
        self.assertEqual(served.protocols[0].events[-1], "lost ConnectionDone")

    def test_writtenAfterTheCloseArrives(self) -> None:
        """
        What the protocol writes after asking to close, in the same read,
        still arrives before the close.
        """
        served = Served(self, b"one", after=b"two", direct=True)
        self.assertEqual(served.exchange(b"ask"), b"onetwo")
        self.assertEqual(served.protocols[0].events[-1], "lost ConnectionDone")

    def test_abortAfterCloseStillAborts(self) -> None:
        """
        A protocol that asks to close, then aborts, in the same read: the
        abort wins, as on Twisted's path.
        """
        served = Served(self, b"answer", direct=True, abort=True)
        try:
            served.exchange(b"ask")
        except ConnectionResetError:
            pass
        for _ in range(5):
            served.reactor.iterate(0.01)
        self.assertEqual(served.protocols[0].events[-1], "lost ConnectionAborted")

    def test_namesAsTwistedDoes(self) -> None:
        """
        The log prefix and the repr, made only when asked for, say what
        Twisted's C{Server} says.
        """
        served = Served(self, b"x")
        served.exchange(b"hi")
        transport = served.protocols[0].transport
        number = served.port.getHost().port
        self.assertEqual(transport.logPrefix(), "Recorder,0,127.0.0.1")  # type: ignore[union-attr]
        self.assertEqual(repr(transport), f"<Recorder #0 on {number}>")
        self.assertTrue(issubclass(HelloServer, tcp.Server))

    def test_lostOnce(self) -> None:
        """
        The client closing first: C{connectionLost} once, clean.
        """
        served = Served(self, b"")
        client = socket.create_connection(("127.0.0.1", served.port.getHost().port))
        for _ in range(20):
            served.reactor.iterate(0.01)
        client.close()
        for _ in range(20):
            served.reactor.iterate(0.01)
        self.assertEqual(served.protocols[0].events, ["lost ConnectionDone"])

    def test_twistedsPathRegistersForWriting(self) -> None:
        """
        The same answer written through the transport: Twisted's path, which
        registers the socket for writing (what the lighter close saves).
        """
        served = Served(self, b"answer")
        self.assertEqual(served.exchange(b"ask"), b"answer")
        self.assertGreaterEqual(len(served.writers), 1)
