# -*- test-case-name: tests.test_caching -*-
"""
HTTP caching semantics, free of I/O: conditional requests (RFC 9110
section 13) and byte ranges (section 14).

A page answer carries its L{Validators}: a strong entity tag made from the
page's bytes and the page file's modification time.  L{evaluate} turns a 200 for a
page into the answer a request's preconditions and range ask for, in the
order of RFC 9110 section 13.2.2: C{If-Match}, then C{If-Unmodified-Since}
(only without C{If-Match}), then C{If-None-Match}, then C{If-Modified-Since}
(only without C{If-None-Match}), then C{Range} with C{If-Range}.  Answers
without validators (the 404 page, C{/sleep}, refusals) pass unchanged.
"""

from __future__ import annotations

from hello_service.http.dates import parseHttpDate
from hello_service.http.requests import Request
from hello_service.http.responses import (
    HTML,
    Response,
    bodilessResponse,
    buildResponse,
    plainTextResponse,
)
from hello_service.http.statuslines import (
    NOT_MODIFIED,
    PARTIAL_CONTENT,
    PRECONDITION_FAILED,
    RANGE_NOT_SATISFIABLE,
)
from hello_service.http.validators import Validators


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


def evaluate(request: Request, response: Response) -> Response:
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
        date = None if since is None else parseHttpDate(since)
        if date is not None and validators.lastModified > date:
            return _preconditionFailed(response)
    ifNoneMatch = conditions.get(b"if-none-match")
    if ifNoneMatch is not None:
        if _weakMatch(ifNoneMatch, validators.etag):
            return _notModified(response, validators)
    else:
        since = conditions.get(b"if-modified-since")
        date = None if since is None else parseHttpDate(since)
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
    return parseHttpDate(value) == validators.lastModified


def parseRange(value: bytes, length: int) -> tuple[int, int] | None | bool:
    """
    The one range C{value} asks for, as (first, last) byte positions of a
    representation of C{length} bytes; C{False} if it cannot be satisfied;
    C{None} if it is not a single byte range we answer (malformed, another
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


def _ranged(value: bytes, response: Response, validators: Validators) -> Response:
    body = response.body
    found = parseRange(value, len(body))
    if found is None:
        return response
    if found is False:
        return plainTextResponse(
            RANGE_NOT_SATISFIABLE,
            response.date,
            b"Content-Range: bytes */%d\r\n" % len(body),
        )
    first, last = found  # type: ignore[misc]
    return buildResponse(
        PARTIAL_CONTENT,
        body[first : last + 1],
        response.date,
        HTML,
        b"Content-Range: bytes %d-%d/%d\r\n" % (first, last, len(body))
        + validators.headers,
        label=response.label,
    )


def _notModified(response: Response, validators: Validators) -> Response:
    """
    A 304: the validators and freshness of the page, no body and no
    Content-Length or Content-Type.
    """
    return bodilessResponse(
        NOT_MODIFIED, response.date, validators.headers, response.label
    )


def _preconditionFailed(response: Response) -> Response:
    return plainTextResponse(PRECONDITION_FAILED, response.date)
