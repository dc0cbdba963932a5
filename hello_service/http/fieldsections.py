# -*- test-case-name: tests.test_http2,tests.test_http3 -*-
"""
What HTTP/2 and HTTP/3 carry differently from HTTP/1.1, free of I/O: a
stream's field section (its header list) in, the protocol-neutral
L{Request} out; a L{Response} in, its status and field list out.  Both
protocols carry the same pseudo-fields and the same field rules (RFC 9114
section 4.3 repeats RFC 9113 section 8.3), so both read them here.

Everything else is the answer layer's, shared with HTTP/1.1: routes,
pages, caching and refusals are decided once (L{hello_service.answers.answers}),
and the header list of an answer is read off the same head HTTP/1.1 sends
(L{hello_service.http.responses}), less the fields HTTP/2 forbids, so every
header rule stays written once.  The request limits mean what they mean
for HTTP/1.1: the request target against C{maxRequestLine} (414), the
header list, counted as RFC 7541 counts it (name, value and 32 bytes a
field), against C{maxHead}, and the field count against C{maxHeaders}
(431), a declared body against C{maxBody} (413).  A field list that breaks
a rule of HTTP/2 itself (L{hello_service.http.fieldlists}) is no request at
all: L{MalformedRequest}, and the session resets its stream.
"""

from __future__ import annotations

from collections.abc import Iterable

from hello_service.http.fieldlists import CONNECTION_SPECIFIC, requestMalformation
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
    CONTENT_TOO_LARGE,
    HEADERS_TOO_LARGE,
    URI_TOO_LONG,
)

#: RFC 7541 section 4.1: each header field costs its name, its value and 32.
FIELD_OVERHEAD = 32


def headerListSize(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """
    The size of a header list as RFC 7541 counts it (and as
    C{SETTINGS_MAX_HEADER_LIST_SIZE} limits it).
    """
    return sum(len(name) + len(value) + FIELD_OVERHEAD for name, value in headers)


class MalformedRequest(Exception):
    """
    A request's field list breaks a rule of RFC 9113 section 8 (RFC 9114
    section 4.1.2) (L{hello_service.http.fieldlists}): a stream error
    (HTTP/2's PROTOCOL_ERROR, HTTP/3's H3_MESSAGE_ERROR), never an answer.
    """


class FieldSectionReader:
    """
    Reads request field sections into L{Request}s for one protocol (the
    version its requests carry, as the access log writes it), each distinct
    list checked and read once: h2load, and a browser's requests for the
    same page, send the same list on every stream.  What each list made
    (its request, its size and its declared body, -1 for none) is kept,
    bounded: cleared when full, and only lists of at most L{LARGEST}
    bytes are kept.
    """

    MOST = 256
    LARGEST = 4096

    __slots__ = ("version", "_read")

    def __init__(self, version: bytes) -> None:
        self.version = version
        self._read: dict[tuple[tuple[bytes, bytes], ...], tuple[Request, int, int]] = {}

    def _readRequest(
        self, headers: tuple[tuple[bytes, bytes], ...]
    ) -> tuple[Request, int, int]:
        """
        The request a well-formed field list makes, its size and its
        declared body length.

        @raise MalformedRequest: if it is malformed.
        """
        reason = requestMalformation(headers)
        if reason is not None:
            raise MalformedRequest(reason)
        method = path = b""
        referer = userAgent = b"-"
        declared = -1
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
            elif name == b"content-length":
                if not value.isdigit():
                    raise MalformedRequest("content-length is not a number")
                declared = int(value)
            elif name in CONDITION_HEADERS:
                conditions = keptHeaders(conditions, name, value)
            elif name in FORWARDING_HEADERS:
                forwarding = keptHeaders(forwarding, name, value)
        request = Request(
            method, path, self.version, True, referer, userAgent, conditions, forwarding
        )
        return request, headerListSize(headers), declared

    def request(
        self, headers: list[tuple[bytes, bytes]], limits: RequestLimits
    ) -> Request:
        """
        The request a stream's field list makes.

        @raise MalformedRequest: for a malformed field list.
        @raise HTTPError: for a request over a limit.
        """
        key = tuple(headers)
        read = self._read
        known = read.get(key)
        if known is None:
            known = self._readRequest(key)
            if known[1] <= self.LARGEST:
                if len(read) >= self.MOST:
                    read.clear()
                read[key] = known
        request, size, declared = known
        if len(key) > limits.maxHeaders:
            raise HTTPError(HEADERS_TOO_LARGE, "too many header fields")
        if size > limits.maxHead:
            raise HTTPError(HEADERS_TOO_LARGE, "request head too large")
        if declared > limits.maxBody:
            raise HTTPError(CONTENT_TOO_LARGE, "request body too large")
        if len(request.target) > limits.maxRequestLine:
            raise HTTPError(URI_TOO_LONG, "request target too long")
        return request


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
            if separator and name.lower() not in CONNECTION_SPECIFIC:
                fields.append((name.lower(), value.strip()))
        framed = (response.status, [(b":status", response.status), *fields])
        if len(_framed) >= _FRAMED_MOST:
            _framed.clear()
        _framed[head] = framed
    return framed
