# -*- test-case-name: tests.test_routes,tests.test_protocol,tests.test_hostile -*-
"""
The route table: what each request is answered with.

This is the C{handle_connection} of the original, without the I/O: the
request line decides the status and the page, and whether the answer waits
for the delay first.  Both concurrency models share it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hello_service.http import statuslines
from hello_service.http.pages import HELLO_PAGE, NOT_FOUND_PAGE
from hello_service.http.requests import HTTPError, Request, requestPath
from hello_service.http.responses import (
    HTML,
    Response,
    bodilessResponse,
    buildResponse,
    plainTextResponse,
)
from hello_service.http.validators import Validators

#: The methods served; any other is answered 405 with this list.
SERVED_METHODS = (b"GET", b"HEAD", b"OPTIONS")

#: The default of C{--cache-control} for the hello and 404 pages: caches
#: may serve the page for a minute without asking, then revalidate it (a
#: 304 from its ETag).  A minute keeps an edited page from lingering in
#: caches, and a revalidation costs a 304, not the page.
DEFAULT_CACHE_CONTROL = b"max-age=60"

#: C{/sleep} is never stored: a cached answer would hide the delay it is
#: there to show.
NO_STORE = b"Cache-Control: no-store\r\n"

#: The header of a 405 answer, naming the methods served.
ALLOW = b"Allow: " + b", ".join(SERVED_METHODS) + b"\r\n"


@dataclass(frozen=True, eq=False)
class Route:
    """
    What to answer: a status, the file name of the page to send (or C{None}
    for none), whether the answer comes only after the delay, any header of
    its own, its label in the metrics, and how caches may keep it:
    C{validated} pages carry validators (and answer conditional and range
    requests) and the service's C{Cache-Control}, C{fresh} ones only the
    C{Cache-Control}.  Routes compare by identity: there is one of each.
    """

    status: bytes
    pageName: str | None
    delayed: bool = False
    extraHeaders: bytes = b""
    label: str = "other"
    validated: bool = False
    fresh: bool = False


HELLO = Route(statuslines.OK, HELLO_PAGE, label="/", validated=True)
SLOW_HELLO = Route(statuslines.OK, HELLO_PAGE, True, NO_STORE, "/sleep")
UNKNOWN_PATH = Route(statuslines.NOT_FOUND, NOT_FOUND_PAGE, fresh=True)
UNSERVED_METHOD = Route(statuslines.METHOD_NOT_ALLOWED, None, extraHeaders=ALLOW)
#: C{OPTIONS} on a route, or C{OPTIONS *}: the methods, no body.
OPTIONS = Route(statuslines.NO_CONTENT, None, extraHeaders=ALLOW)

_BY_PATH = {b"/": HELLO, b"/sleep": SLOW_HELLO}
_SERVED = frozenset(SERVED_METHODS)


def route(request: Request) -> Route:
    """
    Choose the answer to C{request}.
    """
    method = request.method
    if method not in _SERVED:
        return UNSERVED_METHOD
    found = _BY_PATH.get(request.target)
    if found is None:
        found = _BY_PATH.get(requestPath(request.target), UNKNOWN_PATH)
    if method == b"OPTIONS" and (found is not UNKNOWN_PATH or request.target == b"*"):
        return OPTIONS
    return found


def render(
    route: Route,
    body: bytes,
    date: bytes,
    cacheControl: bytes = DEFAULT_CACHE_CONTROL,
    validators: Validators | None = None,
) -> Response:
    """
    The response for C{route}, given the bytes of its page (ignored by a
    route without one), the Date value, the service's C{Cache-Control} for
    pages, and the page's validators (for a C{validated} route).
    """
    if route.status == statuslines.NO_CONTENT:
        return bodilessResponse(
            statuslines.NO_CONTENT, date, route.extraHeaders, route.label
        )
    if route.pageName is None:
        return plainTextResponse(route.status, date, route.extraHeaders)
    extra = route.extraHeaders
    if route.fresh:
        extra += b"Cache-Control: " + cacheControl + b"\r\n"
    return buildResponse(
        route.status,
        body,
        date,
        HTML,
        extra,
        route.label,
        validators if route.validated else None,
    )


def refusal(error: HTTPError, date: bytes) -> Response:
    """
    The answer to input refused by the HTTP rules: its status as plain
    text, and the methods served if the method was the reason.
    """
    extra = ALLOW if error.status == statuslines.METHOD_NOT_ALLOWED else b""
    return plainTextResponse(error.status, date, extra)
