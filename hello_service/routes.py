# -*- test-case-name: tests.test_protocol,tests.test_hostile -*-
"""
The route table: what each request is answered with.

This is the C{handle_connection} of the original, without the I/O: the
request line decides the status and the page, and whether the answer waits
for the delay first.  Both concurrency models share it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hello_service import http
from hello_service.pages import HELLO_PAGE, NOT_FOUND_PAGE


@dataclass(frozen=True, eq=False)
class Route:
    """
    What to answer: a status, the page to send (or L{None} for a short
    plain-text body), whether the answer comes only after the delay, and any
    header of its own.  Routes compare by identity: there is one of each.
    """

    status: bytes
    page: str | None
    delayed: bool = False
    extraHeaders: bytes = b""


HELLO = Route(http.OK, HELLO_PAGE)
SLOW_HELLO = Route(http.OK, HELLO_PAGE, delayed=True)
NOT_FOUND = Route(http.NOT_FOUND, NOT_FOUND_PAGE)
METHOD_NOT_ALLOWED = Route(http.METHOD_NOT_ALLOWED, None, extraHeaders=http.ALLOW)

_BY_PATH = {b"/": HELLO, b"/sleep": SLOW_HELLO}
_SERVED_METHODS = frozenset({b"GET", b"HEAD"})


def route(request: http.Request) -> Route:
    """
    Choose the answer to C{request}.
    """
    if request.method not in _SERVED_METHODS:
        return METHOD_NOT_ALLOWED
    found = _BY_PATH.get(request.target)
    if found is None:
        found = _BY_PATH.get(http.requestPath(request.target), NOT_FOUND)
    return found


def render(route: Route, page: bytes, date: bytes) -> http.Response:
    """
    The response for C{route}, given the bytes of its page (ignored by a
    route without one) and the Date value.
    """
    if route.page is None:
        return http.buildResponse(
            route.status, route.status + b"\n", date, http.TEXT, route.extraHeaders
        )
    return http.buildResponse(route.status, page, date, http.HTML, route.extraHeaders)
