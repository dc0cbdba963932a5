"""
Tests for L{hello_service.http.responses}: the exact bytes of each kind of
answer, and how the connection's next step ends its head.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from hello_service.http import counting, statuslines
from hello_service.http.requests import Request
from hello_service.http.responses import (
    bodilessResponse,
    buildResponse,
    plainTextResponse,
)
from hello_service.http.validators import Validators

DATE = b"Thu, 01 Jan 1970 00:00:00 GMT"
GET11 = Request(b"GET", b"/", b"1.1", True)
GET10 = Request(b"GET", b"/", b"1.0", True)
HEAD = Request(b"HEAD", b"/", b"1.1", True)


class ResponseBytesTests(SynchronousTestCase):
    def test_page(self) -> None:
        """
        A page: status line, Content-Type, Content-Length, Date, its own
        headers, then the body.
        """
        response = buildResponse(statuslines.OK, b"hi", DATE, extraHeaders=b"X: y\r\n")
        self.assertEqual(
            response.toBytes(GET11, True),
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: 2\r\nDate: " + DATE + b"\r\nX: y\r\n\r\nhi",
        )

    def test_validatorsAddTheirHeaders(self) -> None:
        """
        A page with validators carries their headers after its own.
        """
        validators = Validators(b"hi", 0, b"max-age=60")
        response = buildResponse(statuslines.OK, b"hi", DATE, validators=validators)
        self.assertTrue(response.head.endswith(validators.headers))
        self.assertIs(response.validators, validators)

    def test_plainText(self) -> None:
        """
        A status without a page answers with its status line as text.
        """
        response = plainTextResponse(statuslines.BAD_REQUEST, DATE)
        self.assertEqual(
            response.toBytes(GET11, False),
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: 16\r\nDate: " + DATE + b"\r\n"
            b"Connection: close\r\n\r\n400 Bad Request\n",
        )

    def test_bodiless(self) -> None:
        """
        A 204 or 304 has no body, so no Content-Type or Content-Length.
        """
        response = bodilessResponse(
            statuslines.NO_CONTENT, DATE, b"Allow: GET\r\n", "/"
        )
        self.assertEqual(
            response.toBytes(GET11, True),
            b"HTTP/1.1 204 No Content\r\nDate: " + DATE + b"\r\nAllow: GET\r\n\r\n",
        )
        self.assertEqual(response.kind, counting.answerKind("/", b"204"))

    def test_endings(self) -> None:
        """
        HTTP/1.1 keep-alive adds nothing; HTTP/1.0 is told keep-alive; a
        closing answer says close; HEAD gets no body.
        """
        response = buildResponse(statuslines.OK, b"hi", DATE)
        self.assertTrue(response.toBytes(GET11, True).endswith(DATE + b"\r\n\r\nhi"))
        self.assertTrue(
            response.toBytes(GET10, True).endswith(b"Connection: keep-alive\r\n\r\nhi")
        )
        self.assertTrue(
            response.toBytes(GET10, False).endswith(b"Connection: close\r\n\r\nhi")
        )
        self.assertEqual(response.toBytes(HEAD, True), response.head + b"\r\n")

    def test_kindAndLabel(self) -> None:
        """
        A response is counted under its route label and status code.
        """
        response = buildResponse(statuslines.NOT_FOUND, b"", DATE, label="other")
        self.assertEqual(response.kind, counting.answerKind("other", b"404"))
        self.assertEqual((response.status, response.label), (b"404", "other"))
