# -*- test-case-name: tests.test_transport,tests.system.test_reactors -*-
"""
The transport of a connection accepted by hello's reactor on a TCP port: a
C{tcp.Server}, keeping its whole C{ITransport} contract, with less work per
connection (twisted/twisted#2534 was the same kind of change, for each
event).

  - No strings are formatted as the connection is made: Twisted's
    C{Server} formats its log prefix and its C{repr} for every connection,
    to be read only when something is logged about it.  Here both are made
    when asked for.
  - Connections are accepted by L{HelloPort}'s own loop: the descriptor
    and address as the kernel gives them, the socket object made with the
    family the port knows.  Any accept error but "none waiting" goes to
    Twisted's loop, which knows them all.
  - A connection closed by its protocol while it reads, with nothing left
    to send (the answer went straight to the socket), is closed at the end
    of that read.  Twisted's C{loseConnection} registers the socket for
    writing and closes on the next turn of the reactor, once the empty
    buffer is found empty: one C{epoll_ctl} and one more event per
    connection.  That close is Twisted's C{connectionLost} written for this
    one case, its descriptor forgotten by the reactor in one step.
    Anything still buffered is sent first, as before, by Twisted's own
    path.

The accept loop and that close (with the access log reading the peer the
transport keeps) took a one-request connection from 163,900 to 130,800
instructions on the server (C{benchmarks/hotpath.py --callgrind
--sockets}).

The close itself stays Twisted's, C{shutdown} and then C{close}: with the
client's input still unread, C{close} alone resets the connection at once,
and the client can lose what was sent last (HTTP/2's GOAWAY to a flood,
which C{tests.system.test_http2} reads; it failed when the C{shutdown} was
left out).

The protocol is never re-entered: its C{connectionLost} comes after its
C{dataReceived} has returned, as it would on the next turn.  Under TLS or
the PROXY protocol (a worker's adopted C{ssl:} and C{haproxy:} sockets) the
wrapping protocol writes through this transport, whose buffer then holds
data when it closes: the close is Twisted's, and only the accept loop and
the strings are saved.  UNIX sockets, and C{ssl:} listened on by one
process, keep Twisted's own transports.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import tcp
from twisted.internet.address import IPv6Address
from twisted.internet.main import CONNECTION_DONE
from twisted.python import log
from twisted.python.failure import Failure

_DONE = Failure(CONNECTION_DONE)


class HelloServer(tcp.Server):
    """
    An accepted TCP connection on hello's reactor.
    """

    #: The protocol may send its last answer straight to the socket and
    #: then close: the close costs nothing more (see the module).
    closesAtEndOfRead = True

    _inRead = False
    _closeAtEndOfRead = False

    def __init__(
        self,
        sock: Any,
        protocol: Any,
        client: tuple[Any, ...],
        server: Any,
        sessionno: int,
        reactor: Any,
    ) -> None:
        tcp.Connection.__init__(self, sock, protocol, reactor)
        if len(client) != 2:
            self._addressType = IPv6Address
        self.server = server
        self.client = client
        self.sessionno = sessionno
        self.hostname = client[0]
        #: What the log prefix and the repr name, once the protocol is gone.
        self._protocolClass = type(protocol)
        self.startReading()  # type: ignore[no-untyped-call]
        self.connected = 1

    def logPrefix(self) -> str:
        protocol = getattr(self, "protocol", None)
        prefix = (
            self._protocolClass.__name__
            if protocol is None
            else self._getLogPrefix(protocol)
        )
        return f"{prefix},{self.sessionno},{self.hostname}"

    def __repr__(self) -> str:
        port = getattr(self.server, "_realPortNumber", None)
        return f"<{self._protocolClass.__name__} #{self.sessionno} on {port}>"

    def _dataReceived(self, data: bytes | None) -> Any:
        if not data:
            return CONNECTION_DONE
        self._inRead = True
        try:
            self.protocol.dataReceived(data)
        finally:
            self._inRead = False
        if self._closeAtEndOfRead:
            self._closeAtEndOfRead = False
            self._closeNow()
        return None

    def loseConnection(self, _connDone: Failure = _DONE) -> None:
        """
        Close once what is written is sent: at the end of this read, if it
        is called while reading and nothing is buffered; else as Twisted
        does it.
        """
        if (
            self._inRead
            and self.connected
            and not self.disconnecting
            and self.producer is None
            and self._nothingBuffered()
        ):
            self.disconnecting = 1
            self._closeAtEndOfRead = True
            return
        tcp.Server.loseConnection(self)

    def _nothingBuffered(self) -> bool:
        return not self._tempDataBuffer and self.offset >= len(self.dataBuffer)

    def _closeNow(self) -> None:
        """
        The end of the read in which the protocol closed: close now if it
        wrote nothing more meanwhile, else let Twisted send it first.
        """
        if not self.connected or self._aborting:
            return  # lost, or aborted (its own close follows), meanwhile
        if self._nothingBuffered() and self.producer is None:
            self._lostCleanly()
            return
        self.disconnecting = 0
        tcp.Server.loseConnection(self)

    def _lostCleanly(self) -> None:
        """
        C{connectionLost(CONNECTION_DONE)} for a connection with no producer
        and nothing buffered, closed by its protocol: Twisted's steps in
        Twisted's order (forget the descriptor, Twisted's own orderly
        shutdown and close, tell the protocol), without the checks that
        case does not need.
        """
        self.disconnected = 1
        self.connected = 0
        reactor: Any = self.reactor  # hello's, which can forget in one step
        reactor.forget(self)
        self._closeSocket(True)  # type: ignore[no-untyped-call]
        protocol = self.protocol
        del self.protocol
        del self.socket
        del self.fileno
        protocol.connectionLost(_DONE)


class HelloPort(tcp.Port):
    """
    A TCP listening port of hello's reactor: its connections are
    L{HelloServer}s, accepted by a loop of its own.

    Twisted's loop goes through Python's C{socket.accept}, which converts
    the listener's family and type to enums for every connection, and
    builds a logger that buffers log events per turn.  This one takes the
    descriptor and address as the kernel gives them and makes the socket
    object with the family it already knows.  (The transport keeps the
    address as a tuple, as Twisted's does: an address object kept per
    connection cost an idle connection over a hundred bytes, and the access
    log reads the tuple, L{hello_service.connection.peers}.)  Any error but "no
    more connections" is handed to Twisted's own loop, which accepts again
    and handles each error as it always has (the reserved descriptor for
    C{EMFILE}, the errors it logs and those it skips).
    """

    transport = HelloServer

    def doRead(self) -> None:
        """
        Accept the connections waiting, up to C{numberAccepts}, as
        Twisted's C{Port.doRead} does.
        """
        try:
            accepted = self._acceptWaiting()
        except BaseException:
            log.deferr()
            return
        if accepted is None:
            return  # Twisted's loop took over
        if accepted == self.numberAccepts:
            self.numberAccepts += 20
        else:
            self.numberAccepts = max(1, accepted)

    def _acceptWaiting(self) -> int | None:
        """
        Accept and serve connections until none is waiting: how many, or
        C{None} if an error handed the rest to Twisted's loop.
        """
        listener: Any = self.socket
        take = listener._accept
        family = listener.family
        factory: Any = self.factory
        accepted = 0
        for accepted in range(1, self.numberAccepts + 1):
            try:
                descriptor, client = take()
            except BlockingIOError:
                return accepted - 1
            except OSError:
                tcp.Port.doRead(self)
                return None
            skt = socket.socket(family, socket.SOCK_STREAM, 0, descriptor)
            if len(client) == 4:
                # IPv6: the scope ID in the host, as Twisted writes it.
                host = socket.getnameinfo(
                    client, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
                )
                client = (host[0], *client[1:])
            protocol = factory.buildProtocol(self._buildAddr(client))  # type: ignore[no-untyped-call]
            if protocol is None:
                skt.close()
                continue
            session = self.sessionno
            self.sessionno = session + 1
            transport = self.transport(
                skt, protocol, client, self, session, self.reactor
            )
            protocol.makeConnection(transport)
        return accepted
