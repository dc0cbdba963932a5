# -*- test-case-name: tests.test_responses -*-
"""
The response side of HTTP/1.1, free of I/O: answers in, bytes out.

A L{Response} is made once and may be sent many times (the concurrent mode
shares one per route and second), so it holds its head without the final
line: L{Response.toBytes} adds the line that says whether the connection
goes on, and leaves out the body for C{HEAD}.  Every head is made by one
function, L{_head}, so every answer carries the same headers in the same
order.
"""

from __future__ import annotations

from hello_service.http.counting import answerKind
from hello_service.http.requests import Request
from hello_service.http.validators import Validators

HTML = b"text/html; charset=utf-8"
TEXT = b"text/plain; charset=utf-8"

#: What ends a response head, by what the connection does next.  An HTTP/1.1
#: connection is persistent unless it says otherwise; an HTTP/1.0 one that
#: asked for keep-alive must be told it got it.
KEEP_ALIVE_11 = b"\r\n"
KEEP_ALIVE_10 = b"Connection: keep-alive\r\n\r\n"
CLOSE = b"Connection: close\r\n\r\n"

#: The interim answer to C{Expect: 100-continue}: send your body.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Response:
    """
    A response ready to send but for how the connection goes on: its status,
    its head without the final line (L{KEEP_ALIVE_11}, L{KEEP_ALIVE_10} or
    L{CLOSE} ends it), and its body.

    @ivar kind: what the metrics count it under
        (L{hello_service.http.counting.answerKind}).
    @ivar label: the route it answers, as the metrics name it.
    @ivar date: its Date value.
    @ivar validators: the validators of the page it carries, if it carries
        one that conditional and range requests may ask about.
    """

    __slots__ = ("status", "head", "body", "kind", "label", "date", "validators")

    def __init__(
        self,
        status: bytes,
        head: bytes,
        body: bytes,
        label: str = "other",
        date: bytes = b"",
        validators: Validators | None = None,
    ) -> None:
        self.status = status
        self.head = head
        self.body = body
        self.kind = answerKind(label, status)
        self.label = label
        self.date = date
        self.validators = validators

    def __repr__(self) -> str:
        return f"Response({self.status!r}, {self.head!r}, {len(self.body)} bytes)"

    def toBytes(self, request: Request, keepAlive: bool) -> bytes:
        """
        The bytes on the wire when answering C{request}: the body is left out
        for HEAD, and the last header says whether the connection goes on.
        """
        if not keepAlive:
            ending = CLOSE
        elif request.version == b"1.1":
            ending = KEEP_ALIVE_11
        else:
            ending = KEEP_ALIVE_10
        if request.method == b"HEAD":
            return self.head + ending
        return self.head + ending + self.body

    def toBytesWith(self, request: Request, keepAlive: bool, field: bytes) -> bytes:
        """
        L{toBytes}, with one more header field line, CRLF included
        (C{Alt-Svc}, on a connection whose port serves HTTP/3).
        """
        data = self.toBytes(request, keepAlive)
        end = data.index(b"\r\n\r\n") + 2
        return data[:end] + field + data[end:]


def _head(
    status: bytes,
    date: bytes,
    extraHeaders: bytes,
    contentType: bytes | None = None,
    length: int = 0,
) -> bytes:
    """
    A response head without its final line: the status line, the body's
    C{Content-Type} and C{Content-Length} if it has a body, C{Date}, then
    the answer's own headers.
    """
    if contentType is None:
        return b"HTTP/1.1 %s\r\nDate: %s\r\n%s" % (status, date, extraHeaders)
    return (
        b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\n%s"
        % (status, contentType, length, date, extraHeaders)
    )


def buildResponse(
    status: bytes,
    body: bytes,
    date: bytes,
    contentType: bytes = HTML,
    extraHeaders: bytes = b"",
    label: str = "other",
    validators: Validators | None = None,
) -> Response:
    """
    Build a response with a body, and the headers every such response of
    ours has; C{label} names its route in the metrics; C{validators}, of the
    page it carries, add their headers.
    """
    if validators is not None:
        extraHeaders += validators.headers
    head = _head(status, date, extraHeaders, contentType, len(body))
    return Response(status[:3], head, body, label, date, validators)


def plainTextResponse(
    status: bytes, date: bytes, extraHeaders: bytes = b"", label: str = "other"
) -> Response:
    """
    The short plain-text answer of a status that has no page: its status
    line, as text.
    """
    return buildResponse(status, status + b"\n", date, TEXT, extraHeaders, label)


def bodilessResponse(
    status: bytes, date: bytes, extraHeaders: bytes, label: str
) -> Response:
    """
    An answer that has no body by definition (204, 304): no Content-Length
    or Content-Type either.
    """
    return Response(status[:3], _head(status, date, extraHeaders), b"", label, date)
