"""
Builders shared by the tests: a factory on a fake clock, a connection on a
L{StringTransport}, and the exact bytes a response should have.
"""

from __future__ import annotations

from hashlib import blake2b
from pathlib import Path
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hello_service.answers.answers import Answerer
from hello_service.answers.responders import ConcurrentResponder, Responder
from hello_service.connection.protocol import HelloFactory, HelloProtocol
from hello_service.http.pages import Pages

from .doubles import HalfCloseableTransport

HELLO = b"<h1>Hello!</h1>\n"
NOT_FOUND = b"<h1>Oops!</h1>\n"
PAGES = Pages(directory=Path("/nonexistent"), hello=HELLO, notFound=NOT_FOUND)

#: The Date of every response made at time 0 of a L{Clock}.
EPOCH_DATE = b"Thu, 01 Jan 1970 00:00:00 GMT"

CLIENT = IPv4Address("TCP", "127.0.0.1", 40000)


def makeFactory(
    clock: Clock | None = None,
    delay: float = 5.0,
    responder: Responder | None = None,
    **kwargs: Any,
) -> HelloFactory:
    """
    A factory answering from L{PAGES} in concurrent mode on C{clock}.
    """
    if clock is None:
        clock = Clock()
    if responder is None:
        responder = ConcurrentResponder(PAGES, delay, clock)
    return HelloFactory(Answerer(responder, clock), clock, **kwargs)


def connect(
    factory: HelloFactory, kind: type[StringTransport] = StringTransport
) -> tuple[HelloProtocol, StringTransport]:
    """
    A connection of C{factory}'s to a L{StringTransport} (or C{kind} of one).
    """
    protocol = factory.buildProtocol(CLIENT)
    transport = kind(peerAddress=CLIENT)
    protocol.makeConnection(transport)
    return protocol, transport


#: The entity tag of L{HELLO}: a BLAKE2b digest of 10 bytes, in hex.
HELLO_ETAG = b'"' + blake2b(HELLO, digest_size=10).hexdigest().encode() + b'"'

#: The caching headers of the hello page of L{PAGES} (modified at time 0),
#: with the default Cache-Control.
HELLO_CACHING = (
    b"ETag: " + HELLO_ETAG + b"\r\n"
    b"Last-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
    b"Cache-Control: max-age=60\r\n"
    b"Accept-Ranges: bytes\r\n"
)

#: The caching header of the 404 page, and of C{/sleep}.
NOT_FOUND_CACHING = b"Cache-Control: max-age=60\r\n"
SLEEP_CACHING = b"Cache-Control: no-store\r\n"


def response(
    status: bytes = b"200 OK",
    body: bytes = HELLO,
    connection: bytes = b"",
    head: bool = False,
    date: bytes = EPOCH_DATE,
    contentType: bytes = b"text/html; charset=utf-8",
    extra: bytes | None = None,
) -> bytes:
    """
    The exact bytes of a response, written out by hand.  Unless C{extra}
    says otherwise, the hello page (200) carries its caching headers and the
    404 page its Cache-Control.
    """
    if extra is None:
        if status == b"200 OK" and body == HELLO:
            extra = HELLO_CACHING
        elif status == b"404 NOT FOUND" and body == NOT_FOUND:
            extra = NOT_FOUND_CACHING
        else:
            extra = b""
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"Content-Type: " + contentType + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Date: "
        + date
        + b"\r\n"
        + extra
        + connection
        + b"\r\n"
        + (b"" if head else body)
    )


def sleepResponse(date: bytes, connection: bytes = b"") -> bytes:
    """
    The exact bytes of the answer to C{/sleep}: the hello page, never stored.
    """
    return response(date=date, connection=connection, extra=SLEEP_CACHING)


def errorResponse(status: bytes, extra: bytes = b"") -> bytes:
    """
    The exact bytes of a refusal: a short plain-text body, then close.
    """
    return response(
        status,
        status + b"\n",
        b"Connection: close\r\n",
        contentType=b"text/plain; charset=utf-8",
        extra=extra,
    )


def get(path: bytes = b"/", extra: bytes = b"", method: bytes = b"GET") -> bytes:
    """
    A well-formed HTTP/1.1 request.
    """
    return method + b" " + path + b" HTTP/1.1\r\nHost: example\r\n" + extra + b"\r\n"


def connectDirect(
    factory: HelloFactory, socket: Any
) -> tuple[HelloProtocol, HalfCloseableTransport]:
    """
    A connection of C{factory}'s that writes its answers straight to
    C{socket} first, as it does on a real TCP transport, and to the
    transport once a send does not fit; its transport can half-close, so a
    refusal lingers as on TCP.
    """
    factory.directSocket = lambda transport: socket  # type: ignore[method-assign]
    protocol, transport = connect(factory, HalfCloseableTransport)
    return protocol, transport  # type: ignore[return-value]
