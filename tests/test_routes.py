# -*- test-case-name: tests.test_routes -*-
"""
The route table: which answer each request gets, and the bytes of the
answers that are not pages.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from hello_service.answers.routes import (
    ALLOW,
    HELLO,
    SLOW_HELLO,
    UNKNOWN_PATH,
    UNSERVED_METHOD,
    refusal,
    render,
    route,
)
from hello_service.http import requests, statuslines

DATE = b"Thu, 01 Jan 1970 00:00:00 GMT"


def request(method: bytes, target: bytes) -> requests.Request:
    return requests.Request(method, target, b"1.1", True)


class RouteTests(SynchronousTestCase):
    def test_table(self) -> None:
        """
        GET and HEAD of C{/} and C{/sleep}, whatever the query, are the
        hello page (after the delay for C{/sleep}); other paths the 404
        page; other methods the 405 answer.
        """
        for method, target, expected in [
            (b"GET", b"/", HELLO),
            (b"HEAD", b"/", HELLO),
            (b"GET", b"/?x=1", HELLO),
            (b"GET", b"/#top", HELLO),
            (b"GET", b"/sleep", SLOW_HELLO),
            (b"HEAD", b"/sleep?x", SLOW_HELLO),
            (b"GET", b"http://example/sleep", SLOW_HELLO),
            (b"GET", b"http://example", HELLO),
            (b"GET", b"/sleep/", UNKNOWN_PATH),
            (b"GET", b"/hello.html", UNKNOWN_PATH),
            (b"GET", b"*", UNKNOWN_PATH),
            (b"POST", b"/", UNSERVED_METHOD),
            (b"DELETE", b"/missing", UNSERVED_METHOD),
            (b"get", b"/", UNSERVED_METHOD),
        ]:
            self.assertIs(route(request(method, target)), expected, (method, target))

    def test_onlySleepWaits(self) -> None:
        """
        Only C{/sleep} waits for the delay.
        """
        self.assertEqual(
            [r.delayed for r in (HELLO, SLOW_HELLO, UNKNOWN_PATH, UNSERVED_METHOD)],
            [False, True, False, False],
        )

    def test_allowNamesTheServedMethods(self) -> None:
        """
        The 405 answer names exactly GET, HEAD and OPTIONS.
        """
        self.assertEqual(ALLOW, b"Allow: GET, HEAD, OPTIONS\r\n")


class RenderTests(SynchronousTestCase):
    def test_page(self) -> None:
        """
        A route with a page answers it as HTML, with its status.
        """
        response = render(UNKNOWN_PATH, b"<p>no</p>", DATE)
        self.assertEqual(
            response.head,
            b"HTTP/1.1 404 NOT FOUND\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: 9\r\nDate: " + DATE + b"\r\n"
            b"Cache-Control: max-age=60\r\n",
        )
        self.assertEqual((response.status, response.body), (b"404", b"<p>no</p>"))

    def test_methodNotAllowed(self) -> None:
        """
        The 405 route has no page: its status line as plain text, and Allow.
        """
        response = render(UNSERVED_METHOD, b"ignored", DATE)
        self.assertEqual(response.body, b"405 Method Not Allowed\n")
        self.assertIn(b"Content-Type: text/plain; charset=utf-8\r\n", response.head)
        self.assertTrue(response.head.endswith(ALLOW))

    def test_refusals(self) -> None:
        """
        A refusal is its status as plain text; only a 405 adds Allow, so
        the answer to C{BREW} and to C{DELETE} name the same methods.
        """
        refused = refusal(requests.HTTPError(statuslines.BAD_REQUEST, "bad"), DATE)
        self.assertEqual(refused.body, b"400 Bad Request\n")
        self.assertNotIn(b"Allow", refused.head)
        brew = refusal(requests.HTTPError(statuslines.METHOD_NOT_ALLOWED, "no"), DATE)
        self.assertEqual(brew.head, render(UNSERVED_METHOD, b"", DATE).head)
