# -*- test-case-name: tests.test_routes,tests.test_protocol,tests.test_hostile -*-
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

#: The methods served; any other is answered 405 with this list.
SERVED_METHODS = (b"GET", b"HEAD")

#: The header of a 405 answer, naming the methods served.
ALLOW = b"Allow: " + b", ".join(SERVED_METHODS) + b"\r\n"


@dataclass(frozen=True, eq=False)
class Route:
    """
    What to answer: a status, the file name of the page to send (or L{None}
    for a short plain-text body), whether the answer comes only after the
    delay, any header of its own, and its label in the metrics.  Routes
    compare by identity: there is one of each.
    """

    status: bytes
    pageName: str | None
    delayed: bool = False
    extraHeaders: bytes = b""
    label: str = "other"


HELLO = Route(http.OK, HELLO_PAGE, label="/")
SLOW_HELLO = Route(http.OK, HELLO_PAGE, delayed=True, label="/sleep")
UNKNOWN_PATH = Route(http.NOT_FOUND, NOT_FOUND_PAGE)
UNSERVED_METHOD = Route(http.METHOD_NOT_ALLOWED, None, extraHeaders=ALLOW)

_BY_PATH = {b"/": HELLO, b"/sleep": SLOW_HELLO}
_SERVED = frozenset(SERVED_METHODS)


def route(request: http.Request) -> Route:
    """
    Choose the answer to C{request}.
    """
    if request.method not in _SERVED:
        return UNSERVED_METHOD
    found = _BY_PATH.get(request.target)
    if found is None:
        found = _BY_PATH.get(http.requestPath(request.target), UNKNOWN_PATH)
    return found


def render(route: Route, body: bytes, date: bytes) -> http.Response:
    """
    The response for C{route}, given the bytes of its page (ignored by a
    route without one) and the Date value.
    """
    if route.pageName is None:
        return http.plainTextResponse(route.status, date, route.extraHeaders)
    return http.buildResponse(
        route.status, body, date, http.HTML, route.extraHeaders, route.label
    )


def refusal(error: http.HTTPError, date: bytes) -> http.Response:
    """
    The answer to input refused by the HTTP rules: its status as plain
    text, and the methods served if the method was the reason.
    """
    extra = ALLOW if error.status == http.METHOD_NOT_ALLOWED else b""
    return http.plainTextResponse(error.status, date, extra)
