# -*- test-case-name: tests.test_protocol,tests.test_http2 -*-
"""
The boundary between a connection and the protocol it speaks, in both
directions, and the one record an answered exchange leaves.

A L{Session} turns one protocol's bytes into exchanges (a request and its
answer) and answers into bytes: HTTP/1.1 (L{hello_service.connection.http1})
or HTTP/2 (L{hello_service.connection.http2.session}), and whatever comes
next.  What every protocol shares is its L{Link}'s, written once there
(L{hello_service.connection.protocol.HelloProtocol}): the transport, how
answers are written and whether it reads, the deadlines, and every way the
connection ends.  What an exchange leaves behind (its count, its access-log
line, the size a C{HEAD} answer reports) is the
L{ExchangeRecorder<hello_service.connection.accesslog.ExchangeRecorder>}'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from hello_service.answers.answers import Answerer
    from hello_service.connection.accesslog import ExchangeRecorder
    from hello_service.connection.deadlines import Deadline, DeadlineTimer, Timeouts
    from hello_service.connection.flow import FlowControl, ResponseWriter
    from hello_service.connection.http2.defences import HTTP2Settings
    from hello_service.http.counting import RequestCounts
    from hello_service.http.requests import RequestLimits


class Session(Protocol):
    """
    One protocol spoken on one connection, as the connection drives it.
    """

    def dataReceived(self, data: bytes) -> None:
        """
        Bytes from the client, in order.
        """

    def connectionLost(self) -> None:
        """
        The connection is gone: abandon every exchange still being worked on.
        """

    def pauseProducing(self) -> None:
        """
        The client stopped reading: send nothing more for now.
        """

    def resumeProducing(self) -> None:
        """
        The client reads again: go on, and read again if the session wants.
        """

    def deadlinePassed(self, deadline: Deadline) -> None:
        """
        The client took too long, by a deadline only the protocol can judge
        (the header, idle and drain deadlines: the connection itself ends
        the write and linger ones).
        """

    def closeWhenIdle(self) -> None:
        """
        The service drains: let what is in flight finish, take nothing new,
        and close as soon as nothing is left.
        """

    @property
    def requestsInFlight(self) -> int:
        """
        Requests received, in part or whole, and not answered yet.
        """


class Served(Protocol):
    """
    A connection as the factory and the service see it, whatever carries
    it (a TCP connection, L{hello_service.connection.protocol.HelloProtocol},
    or a QUIC one, L{hello_service.connection.http3.session.HTTP3Session}):
    it holds a place under the connection limit, drains and can be ended.
    """

    #: Let in by the connection limit.
    admitted: bool

    @property
    def speaksHTTP2(self) -> bool:
        """Whether it speaks HTTP/2 (for the gauges)."""

    @property
    def speaksHTTP3(self) -> bool:
        """Whether it speaks HTTP/3 (for the gauges)."""

    def admit(self) -> None:
        """The connection limit lets it in."""

    def closeWhenIdle(self) -> None:
        """The service drains: finish what is in flight, then close."""

    def abort(self) -> None:
        """End it at once (the shutdown timeout passed)."""

    @property
    def requestsInFlight(self) -> int:
        """Requests received and not answered."""


class Shared(Protocol):
    """
    What the sessions of every connection share (their factory's,
    L{hello_service.connection.protocol.HelloFactory}): the answer layer,
    the limits and timeouts, the counts, and the recorders of exchanges.
    """

    answerer: Answerer
    requestLimits: RequestLimits
    timeouts: Timeouts
    clock: IReactorTime
    counts: RequestCounts
    #: Whether the access log wants each request's first-byte time.
    timesRequests: bool
    #: The service drains: every answer closes its connection.
    draining: bool
    #: How HTTP/2 is served, or C{None} if it is not.
    http2: HTTP2Settings | None
    #: What each answered exchange leaves behind.
    exchanges: ExchangeRecorder


class Link(Protocol):
    """
    What a session uses of its connection: the shared parts, and the one way
    to end it for each reason.
    """

    @property
    def factory(self) -> Shared: ...

    #: The client, as the access log names it.
    peer: str
    #: How answers reach the socket.
    writer: ResponseWriter
    #: Whether the connection reads.
    flow: FlowControl
    #: How long the client may take.
    deadline: DeadlineTimer
    #: The C{Alt-Svc} value its answers carry, or C{b""} for none.
    altSvc: bytes

    def close(self) -> None:
        """
        End the connection in order: everything written is delivered, then
        the end of the connection.
        """

    def closeDroppingInput(self) -> None:
        """
        End the connection in order, first dropping the input already
        received and not read, so that it cannot turn the end into a reset.
        """

    def lingeringClose(self) -> None:
        """
        End the connection in order while the client may still be sending:
        stop writing, go on reading (and dropping) for a moment, so that
        unread input cannot turn the end into a reset that destroys the
        last answer.
        """

    def abort(self) -> None:
        """
        End the connection at once, dropping whatever is unsent.
        """
