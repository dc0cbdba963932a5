# -*- test-case-name: tests.test_protocol,tests.test_flow -*-
"""
How bytes move between a connection and its socket: whether it reads
(L{FlowControl}), and how its answers are written (L{ResponseWriter}).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Protocol

from twisted.internet import tcp

if TYPE_CHECKING:
    from twisted.internet.interfaces import IPushProducer, ITransport


class Sendable(Protocol):
    """
    What the writer needs of a non-blocking socket, and what a close
    reads from it (L{dropArrivedInput}).
    """

    def send(self, data: bytes, flags: int = 0, /) -> int: ...

    def recv(self, size: int, flags: int = 0, /) -> bytes: ...


#: How the last answer is sent straight to the socket: held for the close
#: that follows at once, so that the kernel sends the answer and the FIN in
#: one segment (Linux; elsewhere a plain send).
_LAST = getattr(socket, "MSG_MORE", 0)


def directSocket(transport: object) -> Sendable | None:
    """
    The socket under C{transport} if answers may be sent straight to it:
    plain TCP or UNIX, whose transport writes that socket and nothing else
    (not TLS, which wraps a transport and must encrypt every byte).  Plain
    sockets also allow a lingering close (see L{HelloProtocol}).
    """
    if isinstance(transport, tcp.Connection):
        handle: socket.socket = transport.getHandle()
        return handle
    return None


#: At most this much input is dropped before a close (L{dropArrivedInput}):
#: a client that keeps sending cannot keep the close waiting.
_DROPPED_BEFORE_CLOSE = 16 * 65536


def dropArrivedInput(transport: object) -> None:
    """
    Read and drop what the client's socket has already received and the
    connection has not read: closing a socket with unread input makes the
    kernel answer with a reset, which destroys what the client has not yet
    read of our last bytes.  The socket is the one under any TLS or PROXY
    wrapper (what is dropped is never looked at).  Bytes still on their way
    are not waited for.
    """
    handle = directSocket(transport)
    while handle is None and transport is not None:
        transport = getattr(transport, "transport", None)
        handle = directSocket(transport)
    if handle is None:
        return
    dropped = 0
    try:
        while dropped < _DROPPED_BEFORE_CLOSE:
            chunk = handle.recv(
                min(65536, _DROPPED_BEFORE_CLOSE - dropped), socket.MSG_DONTWAIT
            )
            if not chunk:
                return
            dropped += len(chunk)
    except OSError:
        return  # nothing more has arrived (or the connection broke)


class FlowControl:
    """
    Whether a connection reads, with each flag beside the transport call it
    guards, so that "pause unless paused" is written once.

    Reading pauses for any of three reasons: the connection limit holds the
    connection back, too many requests wait for their answers, or the
    client is not reading what we write (the transport, whose producer we
    then are, tells us through L{clientStopped}).
    """

    __slots__ = (
        "transport",
        "_producer",
        "_watching",
        "readingPaused",
        "clientNotReading",
    )

    def __init__(self, transport: ITransport, producer: IPushProducer) -> None:
        self.transport = transport
        self._producer = producer
        self._watching = False
        #: We asked the transport to stop reading.
        self.readingPaused = False
        #: The transport's write buffer is full: the client is not reading.
        self.clientNotReading = False

    def pauseReading(self) -> None:
        if not self.readingPaused:
            self.readingPaused = True
            self.transport.pauseProducing()  # type: ignore[attr-defined]

    def resumeReading(self) -> None:
        if self.readingPaused:
            self.readingPaused = False
            self.transport.resumeProducing()  # type: ignore[attr-defined]

    def watchWriteBuffer(self) -> None:
        """
        Have the transport tell us (L{clientStopped}, L{clientReads}) when
        its write buffer fills up and drains.
        """
        self._watching = True
        self.transport.registerProducer(self._producer, True)  # type: ignore[attr-defined]

    def stopWatching(self) -> None:
        """
        The last answer is written: the transport owes us nothing more.
        """
        if self._watching:
            self._watching = False
            self.transport.unregisterProducer()  # type: ignore[attr-defined]

    def close(self) -> None:
        """
        The connection is gone: forget it (it is this object's producer),
        breaking the reference cycle between the two.
        """
        self._producer = None  # type: ignore[assignment]

    def clientStopped(self) -> None:
        """
        The client does not read what we write: read nothing more from it.
        """
        self.clientNotReading = True
        self.pauseReading()

    def clientReads(self) -> None:
        """
        The client reads again; whether we read again is the connection's
        decision.
        """
        self.clientNotReading = False


class ResponseWriter:
    """
    Writes a connection's answers: straight to the socket when nothing is
    queued ahead of them, else through the transport.

    C{transport.write} only buffers, registers the socket for writing and
    sends on a later turn of the reactor: two C{epoll_ctl} calls and a
    wake-up per response, which on the keep-alive path cost more than the
    rest of the request.  A response almost always fits the socket's send
    buffer, so it is sent at once and the transport gets only what did not
    fit.  From then on the transport may hold data, so everything goes
    through it, keeping the bytes in order; and the transport may fill up,
    so it is told to pause us then (L{FlowControl.watchWriteBuffer}).
    """

    __slots__ = ("_socket", "_flow", "_closesAtOnce")

    def __init__(self, flow: FlowControl, socket: Sendable | None) -> None:
        """
        @param flow: the flow control of the connection, whose transport
            this writes to.
        @param socket: the socket under the transport (see L{directSocket}),
            or C{None} to write through the transport only.
        """
        self._flow = flow
        self._socket = socket
        #: Whether the transport closes within the read that asked it to,
        #: when nothing is buffered (hello's, L{hello_service.connection.transport}).
        self._closesAtOnce = socket is not None and getattr(
            flow.transport, "closesAtEndOfRead", False
        )
        if socket is None:
            flow.watchWriteBuffer()

    def write(self, data: bytes, flags: int = 0) -> None:
        sock = self._socket
        if sock is not None:
            try:
                sent = sock.send(data, flags)
            except OSError:
                # Would block, or the connection broke (the transport finds
                # out for itself and closes).
                sent = 0
            if sent == len(data):
                return
            self._throughTransport()
            data = data[sent:]
        self._flow.transport.write(data)

    def writeLast(self, data: bytes) -> None:
        """
        Write the connection's last answer.  On hello's transport, which
        closes within the read when nothing is buffered, it goes straight
        to the socket.  Elsewhere it goes to the transport, which sends it
        in the same reactor turn as the close that follows (sent straight
        away instead, the close would still cost that turn, plus an empty
        send).
        """
        if self._closesAtOnce:
            self.write(data, _LAST)
            return
        self._socket = None
        self._flow.transport.write(data)

    @property
    def direct(self) -> bool:
        """
        Whether nothing waits in the transport: writes go to the socket.
        """
        return self._socket is not None

    def _throughTransport(self) -> None:
        self._socket = None
        self._flow.watchWriteBuffer()
