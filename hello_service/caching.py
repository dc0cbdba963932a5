# -*- test-case-name: tests.test_caching -*-
"""
HTTP caching semantics, free of I/O: validators for a page, conditional
requests (RFC 9110 section 13) and byte ranges (section 14).

A page answer carries its L{Validators}: a strong entity tag made from the
page's bytes (so it changes whenever the bytes do, in either concurrency
model) and the page file's modification time.  L{evaluate} turns a 200 for a
page into the answer a request's preconditions and range ask for, in the
order of RFC 9110 section 13.2.2: C{If-Match}, then C{If-Unmodified-Since}
(only without C{If-Match}), then C{If-None-Match}, then C{If-Modified-Since}
(only without C{If-None-Match}), then C{Range} with C{If-Range}.  Answers
without validators (the 404 page, C{/sleep}, refusals) pass unchanged.
"""

from __future__ import annotations

from email.utils import mktime_tz, parsedate_tz
from hashlib import blake2b

from hello_service import http

NOT_MODIFIED = b"304 Not Modified"
PARTIAL_CONTENT = b"206 Partial Content"
PRECONDITION_FAILED = b"412 Precondition Failed"
RANGE_NOT_SATISFIABLE = b"416 Range Not Satisfiable"


class Validators:
    """
    What a cache compares a stored page with: its entity tag and its
    modification time, and the header lines that send them with the
    freshness the service gives pages.

    @ivar etag: the strong entity tag, quotes included.
    @ivar lastModified: the modification time, in whole seconds.
    @ivar headers: C{ETag}, C{Last-Modified}, C{Cache-Control} and
        C{Accept-Ranges} lines, as a 200, 206 or 304 for the page sends them.
    """

    __slots__ = ("etag", "lastModified", "headers")

    def __init__(self, body: bytes, modified: float, cacheControl: bytes) -> None:
        self.etag = b'"' + blake2b(body, digest_size=10).hexdigest().encode() + b'"'
        self.lastModified = int(modified)
        self.headers = (
            b"ETag: %s\r\nLast-Modified: %s\r\nCache-Control: %s\r\n"
            b"Accept-Ranges: bytes\r\n"
            % (self.etag, http.httpDate(self.lastModified), cacheControl)
        )


def _httpDate(value: bytes) -> int | None:
    """
    The POSIX time of an HTTP date (any of RFC 9110's three forms), or
    L{None} if it is not one: an invalid date is ignored, not refused.
    """
    try:
        parsed = parsedate_tz(value.decode("latin-1"))
        return None if parsed is None else int(mktime_tz(parsed))
    except (ValueError, OverflowError):
        return None


def _tags(value: bytes) -> list[bytes]:
    """
    The entity tags of a list header, C{*} included as it is.
    """
    return [tag.strip() for tag in value.split(b",") if tag.strip()]


def _weakMatch(value: bytes, etag: bytes) -> bool:
    """
    Whether C{If-None-Match} matches: C{*}, or any tag equal to ours once
    C{W/} is set aside (the weak comparison of RFC 9110 section 8.8.3.2).
    """
    return any(tag == b"*" or tag.removeprefix(b"W/") == etag for tag in _tags(value))


def _strongMatch(value: bytes, etag: bytes) -> bool:
    """
    Whether C{If-Match} matches: C{*}, or a strong tag equal to ours.
    """
    return any(tag == b"*" or tag == etag for tag in _tags(value))


def evaluate(request: http.Request, response: http.Response) -> http.Response:
    """
    The answer to C{request}, given the answer it would get without its
    preconditions and range (C{response}).
    """
    validators = response.validators
    conditions = request.conditions
    if (
        validators is None
        or conditions is None
        or request.method
        not in (
            b"GET",
            b"HEAD",
        )
    ):
        return response
    ifMatch = conditions.get(b"if-match")
    if ifMatch is not None:
        if not _strongMatch(ifMatch, validators.etag):
            return _preconditionFailed(response)
    else:
        since = conditions.get(b"if-unmodified-since")
        date = None if since is None else _httpDate(since)
        if date is not None and validators.lastModified > date:
            return _preconditionFailed(response)
    ifNoneMatch = conditions.get(b"if-none-match")
    if ifNoneMatch is not None:
        if _weakMatch(ifNoneMatch, validators.etag):
            return _notModified(response, validators)
    else:
        since = conditions.get(b"if-modified-since")
        date = None if since is None else _httpDate(since)
        if date is not None and validators.lastModified <= date:
            return _notModified(response, validators)
    ranges = conditions.get(b"range")
    if ranges is None or request.method != b"GET":
        return response
    ifRange = conditions.get(b"if-range")
    if ifRange is not None and not _ifRangeHolds(ifRange, validators):
        return response  # the client's copy is stale: the whole page
    return _ranged(ranges, response, validators)


def _ifRangeHolds(value: bytes, validators: Validators) -> bool:
    """
    Whether C{If-Range} names the current page: its strong tag, or exactly
    its modification time.
    """
    value = value.strip()
    if value.startswith((b'"', b"W/")):
        return value == validators.etag
    return _httpDate(value) == validators.lastModified


def parseRange(value: bytes, length: int) -> tuple[int, int] | None | bool:
    """
    The one range C{value} asks for, as (first, last) byte positions of a
    representation of C{length} bytes; C{False} if it cannot be satisfied;
    L{None} if it is not a single byte range we answer (malformed, another
    unit, or several ranges), which is answered with the whole page.
    """
    unit, equals, spec = value.partition(b"=")
    if not equals or unit.strip().lower() != b"bytes" or b"," in spec:
        return None
    first, dash, last = spec.strip().partition(b"-")
    if not dash or not (first.isdigit() or last.isdigit()):
        return None
    if (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or length == 0:
            return False
        return max(0, length - suffix), length - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= length:
        return False
    end = length - 1 if not last else min(int(last), length - 1)
    return start, end


def _ranged(
    value: bytes, response: http.Response, validators: Validators
) -> http.Response:
    body = response.body
    found = parseRange(value, len(body))
    if found is None:
        return response
    if found is False:
        return http.plainTextResponse(
            RANGE_NOT_SATISFIABLE,
            response.date,
            b"Content-Range: bytes */%d\r\n" % len(body),
        )
    first, last = found  # type: ignore[misc]
    return http.buildResponse(
        PARTIAL_CONTENT,
        body[first : last + 1],
        response.date,
        http.HTML,
        b"Content-Range: bytes %d-%d/%d\r\n" % (first, last, len(body))
        + validators.headers,
        label=http.ANSWER_KINDS[response.kind][0],
    )


def _notModified(response: http.Response, validators: Validators) -> http.Response:
    """
    A 304: the validators and freshness of the page, no body and no
    Content-Length or Content-Type.
    """
    head = b"HTTP/1.1 %s\r\nDate: %s\r\n%s" % (
        NOT_MODIFIED,
        response.date,
        validators.headers,
    )
    return http.Response(
        NOT_MODIFIED[:3], head, b"", http.ANSWER_KINDS[response.kind][0]
    )


def _preconditionFailed(response: http.Response) -> http.Response:
    return http.plainTextResponse(PRECONDITION_FAILED, response.date, b"")
