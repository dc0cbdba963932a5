# -*- test-case-name: tests.test_http2 -*-
"""
What HTTP/2 frames differently from HTTP/1.1, free of I/O: a stream's
header list in, the protocol-neutral L{Request} out; a L{Response} in, its
status and header list out.

Everything else is the answer layer's, shared with HTTP/1.1: routes,
pages, caching and refusals are decided once (L{hello_service.answers.answers}),
and the header list of an answer is read off the same head HTTP/1.1 sends
(L{hello_service.http.responses}), less the fields HTTP/2 forbids, so every
header rule stays written once.  The request limits mean what they mean
for HTTP/1.1: the request target against C{maxRequestLine} (414), the
header list, counted as RFC 7541 counts it (name, value and 32 bytes a
field), against C{maxHead}, and the field count against C{maxHeaders}
(431), a declared body against C{maxBody} (413).
"""

from __future__ import annotations

from collections.abc import Iterable

from hello_service.http.proxytrust import FORWARDING_HEADERS
from hello_service.http.requests import (
    CONDITION_HEADERS,
    HTTPError,
    Request,
    RequestLimits,
    keptHeaders,
)
from hello_service.http.responses import Response
from hello_service.http.statuslines import (
    BAD_REQUEST,
    CONTENT_TOO_LARGE,
    HEADERS_TOO_LARGE,
    URI_TOO_LONG,
)

#: The client connection preface: a cleartext connection that opens with
#: it speaks HTTP/2 (prior knowledge, RFC 9113 section 3.3).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

#: The version an HTTP/2 request carries, as the access log writes it.
VERSION = b"2.0"

#: RFC 7541 section 4.1: each header field costs its name, its value and 32.
FIELD_OVERHEAD = 32

#: Connection-specific fields, which HTTP/2 forbids (RFC 9113 section
#: 8.2.2): left out of the header list made from an HTTP/1.1 head.
CONNECTION_FIELDS = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
    }
)


def headerListSize(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """
    The size of a header list as RFC 7541 counts it (and as
    C{SETTINGS_MAX_HEADER_LIST_SIZE} limits it).
    """
    return sum(len(name) + len(value) + FIELD_OVERHEAD for name, value in headers)


def requestFromHeaders(
    headers: list[tuple[bytes, bytes]], limits: RequestLimits
) -> Request:
    """
    The request a stream's header list makes (h2 has checked the pseudo
    fields' form already).

    @raise HTTPError: for a request over a limit, or without the pseudo
        fields a request needs.
    """
    if len(headers) > limits.maxHeaders:
        raise HTTPError(HEADERS_TOO_LARGE, "too many header fields")
    if headerListSize(headers) > limits.maxHead:
        raise HTTPError(HEADERS_TOO_LARGE, "request head too large")
    method = path = b""
    referer = userAgent = b"-"
    conditions: dict[bytes, bytes] | None = None
    forwarding: dict[bytes, bytes] | None = None
    for name, value in headers:
        if name == b":method":
            method = value
        elif name == b":path":
            path = value
        elif name == b"user-agent":
            userAgent = value
        elif name == b"referer":
            referer = value
        elif name == b"content-length" and int(value) > limits.maxBody:
            raise HTTPError(CONTENT_TOO_LARGE, "request body too large")
        elif name in CONDITION_HEADERS:
            conditions = keptHeaders(conditions, name, value)
        elif name in FORWARDING_HEADERS:
            forwarding = keptHeaders(forwarding, name, value)
    if len(path) > limits.maxRequestLine:
        raise HTTPError(URI_TOO_LONG, "request target too long")
    if not method or not path:
        raise HTTPError(BAD_REQUEST, "no :method or :path")
    return Request(
        method, path, VERSION, True, referer, userAgent, conditions, forwarding
    )


#: The header list of each response head already framed, by the head: the
#: concurrent mode shares one response per route and second, so a head is
#: read off once, not per stream.  Bounded: a distinct head is new every
#: second at the most per route and status.
_framed: dict[bytes, tuple[bytes, list[tuple[bytes, bytes]]]] = {}
_FRAMED_MOST = 256


def responseHeaders(response: Response) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """
    The C{:status} and the header fields of C{response}, from the head
    HTTP/1.1 would send (so both protocols send the same fields), less the
    connection-specific ones.
    """
    head = response.head
    framed = _framed.get(head)
    if framed is None:
        lines = head.split(b"\r\n")
        fields = []
        for line in lines[1:]:
            name, separator, value = line.partition(b":")
            if separator and name.lower() not in CONNECTION_FIELDS:
                fields.append((name.lower(), value.strip()))
        framed = (response.status, [(b":status", response.status), *fields])
        if len(_framed) >= _FRAMED_MOST:
            _framed.clear()
        _framed[head] = framed
    return framed
