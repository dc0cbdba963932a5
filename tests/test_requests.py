# -*- test-case-name: tests.test_http -*-
"""
The HTTP rules alone: byte strings in, requests or errors out.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from hello_service.http import statuslines
from hello_service.http.requests import (
    DEFAULT_LIMITS,
    HTTPError,
    Request,
    RequestLimits,
    RequestReader,
    requestPath,
)


def read(
    data: bytes, limits: RequestLimits = DEFAULT_LIMITS
) -> tuple[list[Request], HTTPError | None]:
    reader = RequestReader(limits)
    requests = reader.feed(data)
    return requests, reader.error


class RequestReaderTests(SynchronousTestCase):
    """
    L{RequestReader} turns bytes into requests, or into the status of
    what was wrong with them.
    """

    def test_simple(self) -> None:
        """
        A request gives its method, target, version and keep-alive.
        """
        [request], error = read(
            b"GET /a?b HTTP/1.1\r\nHost: x\r\nUser-Agent: u\r\n\r\n"
        )
        self.assertIsNone(error)
        self.assertEqual(
            (request.method, request.target, request.version, request.keepAlive),
            (b"GET", b"/a?b", b"1.1", True),
        )
        self.assertEqual((request.userAgent, request.referer), (b"u", b"-"))

    def test_bodiesAreConsumed(self) -> None:
        """
        A body, by Content-Length or chunked, is never read as the next
        request.
        """
        requests, error = read(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\n"
            b"GET /evil HTTP/1.1"
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nGET /\r\n0\r\n\r\n"
            b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        self.assertIsNone(error)
        self.assertEqual([r.target for r in requests], [b"/", b"/", b"/last"])

    def test_statusOfEachRule(self) -> None:
        """
        Each broken rule maps to its status.
        """
        small = RequestLimits(maxRequestLine=64, maxHead=256, maxHeaders=3, maxBody=10)
        for data, status in [
            (
                b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                statuslines.URI_TOO_LONG,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nA: " + b"a" * 300 + b"\r\n\r\n",
                statuslines.HEADERS_TOO_LARGE,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
                statuslines.HEADERS_TOO_LARGE,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n",
                statuslines.CONTENT_TOO_LARGE,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n",
                statuslines.CONTENT_TOO_LARGE,
            ),
            (b"GET / HTTP/1.1\r\n\r\n", statuslines.BAD_REQUEST),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", statuslines.BAD_REQUEST),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                statuslines.BAD_REQUEST,
            ),
            (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", statuslines.VERSION_NOT_SUPPORTED),
            (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", statuslines.BAD_REQUEST),
        ]:
            requests, error = read(data, small)
            self.assertEqual(requests, [], data)
            assert error is not None, data
            self.assertEqual(error.status, status, data)

    def test_trickledHeadIsBounded(self) -> None:
        """
        A head that never ends is refused once it passes the limit, however
        it is split.
        """
        reader = RequestReader(RequestLimits(maxHead=1024))
        reader.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: ")
        for _ in range(200):
            self.assertEqual(reader.feed(b"aaaaaaaaaa"), [])
            if reader.error is not None:
                break
        assert reader.error is not None
        self.assertEqual(reader.error.status, statuslines.HEADERS_TOO_LARGE)

    def test_nothingAfterError(self) -> None:
        """
        After an error the reader accepts nothing more.
        """
        reader = RequestReader()
        reader.feed(b"BAD\x00\r\n\r\n")
        self.assertIsNotNone(reader.error)
        self.assertEqual(reader.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), [])

    def test_upgradeIsAnsweredThenClosed(self) -> None:
        """
        A request to switch protocols is answered as HTTP/1.1, then the
        connection closes.
        """
        [request], error = read(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"
        )
        self.assertIsNone(error)
        self.assertFalse(request.keepAlive)

    def test_nothingRefusedAfterAClosingRequest(self) -> None:
        """
        Bytes after a request that closes the connection are never read, so
        they cannot be refused either.
        """
        reader = RequestReader()
        requests = reader.feed(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n\x00garbage"
        )
        self.assertEqual([r.keepAlive for r in requests], [False])
        self.assertIsNone(reader.error)

    def test_ourBugIsA500(self) -> None:
        """
        A bug of ours inside a parser callback is the client's connection's
        500, not an exception out of the reader.
        """

        class Broken(RequestReader):
            def on_url(self, url: bytes) -> None:
                raise RuntimeError("oops")

        reader = Broken()
        self.assertEqual(reader.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), [])
        assert reader.error is not None
        self.assertEqual(reader.error.status, statuslines.INTERNAL_ERROR)


class RequestPathTests(SynchronousTestCase):
    """
    L{requestPath} is what routing looks at.
    """

    def test_forms(self) -> None:
        """
        Query and fragment are dropped; absolute-form routes by its path.
        """
        for target, path in [
            (b"/", b"/"),
            (b"/sleep?x=1", b"/sleep"),
            (b"/a#b", b"/a"),
            (b"http://host:80/sleep?q", b"/sleep"),
            (b"http://host", b"/"),
            (b"http://host/a/b?c", b"/a/b"),
            (b"http:///sleep", b"/sleep"),
            (b"http://host/x://y", b"/x://y"),
            (b"/?x=1?y=2", b"/"),
            (b"/sleep#a#b", b"/sleep"),
            (b"/a?b#c", b"/a"),
            (b"*", b"*"),
        ]:
            self.assertEqual(requestPath(target), path)
