# -*- test-case-name: tests.test_caching -*-
"""
HTTP caching: validators, conditional requests, ranges, OPTIONS and
freshness, as exact bytes on a L{StringTransport} in both concurrency
models, and linted by REDbot against a live server.
"""

from __future__ import annotations

import os
from pathlib import Path

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from hello_service.answers.caching import parseRange
from hello_service.answers.responders import ParallelResponder
from hello_service.http.pages import loadPages

from .support.builders import (
    HELLO,
    HELLO_CACHING,
    HELLO_ETAG,
    NOT_FOUND,
    SLEEP_CACHING,
    connect,
    get,
    makeFactory,
    response,
    sleepResponse,
)
from .support.doubles import ImmediateReactor, QueueingThreadPool

EPOCH = b"Thu, 01 Jan 1970 00:00:00 GMT"
LATER = b"Thu, 01 Jan 1970 00:00:01 GMT"
EARLIER = b"Wed, 31 Dec 1969 23:59:59 GMT"


def notModified(date: bytes = EPOCH, connection: bytes = b"") -> bytes:
    """
    The exact bytes of a 304 for the hello page.
    """
    return (
        b"HTTP/1.1 304 Not Modified\r\nDate: "
        + date
        + b"\r\n"
        + HELLO_CACHING
        + connection
        + b"\r\n"
    )


def partial(first: int, last: int) -> bytes:
    """
    The exact bytes of a 206 for bytes C{first} to C{last} of the page.
    """
    return response(
        b"206 Partial Content",
        HELLO[first : last + 1],
        extra=b"Content-Range: bytes %d-%d/%d\r\n" % (first, last, len(HELLO))
        + HELLO_CACHING,
    )


def plain(status: bytes, extra: bytes = b"") -> bytes:
    return response(
        status, status + b"\n", contentType=b"text/plain; charset=utf-8", extra=extra
    )


class ConditionalTests(SynchronousTestCase):
    """
    RFC 9110 section 13, on the hello page (concurrent mode).
    """

    def ask(self, *headers: bytes, method: bytes = b"GET", path: bytes = b"/") -> bytes:
        protocol, transport = connect(makeFactory())
        protocol.dataReceived(get(path, b"".join(h + b"\r\n" for h in headers), method))
        return transport.value()

    def test_validatorsOnEveryPage200(self) -> None:
        """
        The hello page carries a strong ETag, Last-Modified, Cache-Control
        and Accept-Ranges; the 404 page only Cache-Control; C{/sleep}
        C{no-store} and no validator.
        """
        self.assertEqual(self.ask(), response())
        self.assertIn(b"ETag: " + HELLO_ETAG + b"\r\n", self.ask())
        self.assertEqual(
            self.ask(path=b"/x"),
            response(
                b"404 NOT FOUND", NOT_FOUND, extra=b"Cache-Control: max-age=60\r\n"
            ),
        )
        clock = Clock()
        protocol, transport = connect(makeFactory(clock, delay=1))
        protocol.dataReceived(get(b"/sleep", b'If-None-Match: "x", *\r\n'))
        clock.advance(1)
        self.assertEqual(transport.value(), sleepResponse(LATER))
        self.assertIn(SLEEP_CACHING, transport.value())

    def test_ifNoneMatch(self) -> None:
        """
        A matching tag, in a list, weakly, or C{*}, gets 304; another 200.
        """
        for value in [
            HELLO_ETAG,
            b'"other", ' + HELLO_ETAG,
            b"W/" + HELLO_ETAG,
            b"*",
        ]:
            self.assertEqual(self.ask(b"If-None-Match: " + value), notModified(), value)
        self.assertEqual(self.ask(b'If-None-Match: "other"'), response())

    def test_ifModifiedSince(self) -> None:
        """
        Not modified since a date at or after Last-Modified: 304; since an
        earlier one: 200; an invalid date is ignored.
        """
        self.assertEqual(self.ask(b"If-Modified-Since: " + EPOCH), notModified())
        self.assertEqual(self.ask(b"If-Modified-Since: " + LATER), notModified())
        self.assertEqual(self.ask(b"If-Modified-Since: " + EARLIER), response())
        self.assertEqual(self.ask(b"If-Modified-Since: yesterday"), response())

    def test_ifNoneMatchBeforeIfModifiedSince(self) -> None:
        """
        With If-None-Match, If-Modified-Since is not looked at.
        """
        self.assertEqual(
            self.ask(b'If-None-Match: "other"', b"If-Modified-Since: " + LATER),
            response(),
        )

    def test_ifMatchAndIfUnmodifiedSince(self) -> None:
        """
        If-Match with another tag, or If-Unmodified-Since before the change:
        412; If-Match decides alone when present.
        """
        failed = plain(b"412 Precondition Failed")
        self.assertEqual(self.ask(b'If-Match: "other"'), failed)
        self.assertEqual(self.ask(b"If-Match: " + HELLO_ETAG), response())
        self.assertEqual(self.ask(b"If-Match: *"), response())
        self.assertEqual(self.ask(b"If-Unmodified-Since: " + EARLIER), failed)
        self.assertEqual(self.ask(b"If-Unmodified-Since: " + EPOCH), response())
        self.assertEqual(
            self.ask(b"If-Match: " + HELLO_ETAG, b"If-Unmodified-Since: " + EARLIER),
            response(),
        )
        # Preconditions come before If-None-Match.
        self.assertEqual(self.ask(b'If-Match: "other"', b"If-None-Match: *"), failed)

    def test_head(self) -> None:
        """
        HEAD gets 304 like GET, and ignores Range.
        """
        self.assertEqual(self.ask(b"If-None-Match: *", method=b"HEAD"), notModified())
        self.assertEqual(
            self.ask(b"Range: bytes=0-3", method=b"HEAD"), response(head=True)
        )

    def test_pipelined(self) -> None:
        """
        Pipelined conditional requests are each answered in order.
        """
        protocol, transport = connect(makeFactory())
        protocol.dataReceived(
            get(extra=b"If-None-Match: " + HELLO_ETAG + b"\r\n")
            + get()
            + get(extra=b"Range: bytes=0-0\r\n")
            + get(extra=b"If-None-Match: *\r\nConnection: close\r\n")
        )
        self.assertEqual(
            transport.value(),
            notModified()
            + response()
            + partial(0, 0)
            + notModified(connection=b"Connection: close\r\n"),
        )

    def test_tagListWithoutSpaces(self) -> None:
        """
        A list of entity tags matches whichever way it is spaced.
        """
        from hello_service.answers.caching import evaluate
        from hello_service.http.requests import Request
        from hello_service.http.responses import buildResponse
        from hello_service.http.validators import Validators

        validators = Validators(b"page", 0, b"max-age=60")
        page = buildResponse(b"200 OK", b"page", b"D", label="/", validators=validators)
        for value in [b'"x",' + validators.etag, b'"x" , ' + validators.etag]:
            request = Request(
                b"GET", b"/", b"1.1", True, conditions={b"if-none-match": value}
            )
            self.assertEqual(evaluate(request, page).status, b"304", value)


class RangeTests(SynchronousTestCase):
    """
    RFC 9110 section 14, on the hello page.
    """

    def ask(self, *headers: bytes) -> bytes:
        protocol, transport = connect(makeFactory())
        protocol.dataReceived(get(extra=b"".join(h + b"\r\n" for h in headers)))
        return transport.value()

    def test_satisfiable(self) -> None:
        """
        A single satisfiable range: 206 with Content-Range and those bytes;
        an open end and a suffix too; an end past the page is cut.
        """
        size = len(HELLO)
        self.assertEqual(self.ask(b"Range: bytes=0-4"), partial(0, 4))
        self.assertEqual(self.ask(b"Range: bytes=3-"), partial(3, size - 1))
        self.assertEqual(self.ask(b"Range: bytes=-4"), partial(size - 4, size - 1))
        self.assertEqual(self.ask(b"Range: bytes=2-999"), partial(2, size - 1))

    def test_unsatisfiable(self) -> None:
        """
        A range past the end: 416 with C{Content-Range: bytes */LENGTH}.
        """
        self.assertEqual(
            self.ask(b"Range: bytes=999-"),
            plain(
                b"416 Range Not Satisfiable",
                b"Content-Range: bytes */%d\r\n" % len(HELLO),
            ),
        )

    def test_wholePage(self) -> None:
        """
        Several ranges, another unit or a malformed range get the whole page.
        """
        for value in [b"bytes=0-1,4-5", b"lines=0-1", b"bytes=5-2", b"bytes=x-"]:
            self.assertEqual(self.ask(b"Range: " + value), response(), value)

    def test_ifRange(self) -> None:
        """
        If-Range with the current tag or date gets the range; a stale one,
        or a weak tag, the whole page.
        """
        self.assertEqual(
            self.ask(b"Range: bytes=0-1", b"If-Range: " + HELLO_ETAG), partial(0, 1)
        )
        self.assertEqual(
            self.ask(b"Range: bytes=0-1", b"If-Range: " + EPOCH), partial(0, 1)
        )
        for stale in [b'"old"', b"W/" + HELLO_ETAG, LATER]:
            self.assertEqual(
                self.ask(b"Range: bytes=0-1", b"If-Range: " + stale), response()
            )

    def test_conditionsBeforeRange(self) -> None:
        """
        A 304 wins over a range: conditionals are evaluated first.
        """
        self.assertEqual(
            self.ask(b"Range: bytes=0-1", b"If-None-Match: *"), notModified()
        )

    def test_parse(self) -> None:
        """
        The range forms, on a representation of 10 bytes.
        """
        for value, expected in [
            (b"bytes=0-0", (0, 0)),
            (b"bytes=9-", (9, 9)),
            (b"bytes=-3", (7, 9)),
            (b"bytes=-30", (0, 9)),
            (b"bytes=10-", False),
            (b"bytes=-0", False),
            (b"bytes=", None),
            (b"bytes=-", None),
            (b"bytes=1-2-3", None),
            (b"BYTES=1-2", (1, 2)),
        ]:
            self.assertEqual(parseRange(value, 10), expected, value)

    def test_partialAnswerCountedUnderItsRoute(self) -> None:
        """
        A 206 is counted under the route of the page it is part of.
        """
        from hello_service.answers.caching import evaluate
        from hello_service.http.requests import Request
        from hello_service.http.responses import buildResponse
        from hello_service.http.validators import Validators

        validators = Validators(b"page", 0, b"max-age=60")
        page = buildResponse(b"200 OK", b"page", b"D", label="/", validators=validators)
        request = Request(
            b"GET", b"/", b"1.1", True, conditions={b"range": b"bytes=0-1"}
        )
        partial = evaluate(request, page)
        self.assertEqual(
            (partial.status, partial.label, partial.body), (b"206", "/", b"pa")
        )

    def test_suffixOfAOneByteBody(self) -> None:
        """
        The last bytes of a one-byte body are that byte.
        """
        self.assertEqual(parseRange(b"bytes=-5", 1), (0, 0))


class OptionsMethodTests(SynchronousTestCase):
    def test_options(self) -> None:
        """
        C{OPTIONS} on a route and C{OPTIONS *} answer 204 with Allow and no
        body; on another path, 404.
        """
        for target in [b"/", b"/sleep", b"*"]:
            protocol, transport = connect(makeFactory())
            protocol.dataReceived(get(target, method=b"OPTIONS"))
            self.assertEqual(
                transport.value(),
                b"HTTP/1.1 204 No Content\r\nDate: " + EPOCH + b"\r\n"
                b"Allow: GET, HEAD, OPTIONS\r\n\r\n",
                target,
            )
        protocol, transport = connect(makeFactory())
        protocol.dataReceived(get(b"/x", method=b"OPTIONS"))
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 404 NOT FOUND\r\n"))


class ParallelTests(SynchronousTestCase):
    """
    The same rules in parallel mode, where each answer reads its page.
    """

    def setUp(self) -> None:
        self.directory = Path(self.mktemp())
        self.directory.mkdir()
        (self.directory / "hello.html").write_bytes(HELLO)
        (self.directory / "404.html").write_bytes(NOT_FOUND)
        os.utime(self.directory / "hello.html", (0, 0))
        self.pool = QueueingThreadPool()

    def ask(self, *headers: bytes) -> bytes:
        responder = ParallelResponder(
            loadPages(self.directory),
            0.0,
            ImmediateReactor(),
            self.pool,  # type: ignore[arg-type]
        )
        protocol, transport = connect(makeFactory(responder=responder))
        protocol.dataReceived(get(extra=b"".join(h + b"\r\n" for h in headers)))
        while self.pool.queued:
            self.pool.finish()
        return transport.value()

    def withoutDate(self, data: bytes) -> bytes:
        head, _, body = data.partition(b"\r\n\r\n")
        lines = [line for line in head.split(b"\r\n") if not line.startswith(b"Date: ")]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def test_sameRules(self) -> None:
        """
        Validators, 304 and 206 as in concurrent mode.
        """
        for headers, expected in [
            ((), response()),
            ((b"If-None-Match: " + HELLO_ETAG,), notModified()),
            ((b"Range: bytes=1-2",), partial(1, 2)),
        ]:
            self.assertEqual(
                self.withoutDate(self.ask(*headers)), self.withoutDate(expected)
            )

    def test_cacheControlAndPagelessAnswers(self) -> None:
        """
        The service's Cache-Control reaches the pages read in a thread, and
        answers without a page carry their own Date.
        """
        responder = ParallelResponder(
            loadPages(self.directory),
            0.0,
            ImmediateReactor(),  # type: ignore[arg-type]
            self.pool,  # type: ignore[arg-type]
            cacheControl=b"no-cache",
        )
        protocol, transport = connect(makeFactory(responder=responder))
        protocol.dataReceived(get() + get(method=b"DELETE"))
        while self.pool.queued:
            self.pool.finish()
        first, second = transport.value().split(b"HTTP/1.1 405")
        self.assertIn(b"\r\nCache-Control: no-cache\r\n", first)
        self.assertRegex(
            second, rb"\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n"
        )

    def test_editedPageNewTag(self) -> None:
        """
        A page edited on disk gets a new ETag with its next answer, and a
        conditional request with the old tag gets the new page.
        """
        old = self.ask()
        self.assertIn(b"ETag: " + HELLO_ETAG + b"\r\n", old)
        (self.directory / "hello.html").write_bytes(b"<p>edited</p>\n")
        fresh = self.ask(b"If-None-Match: " + HELLO_ETAG)
        self.assertTrue(fresh.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertNotIn(HELLO_ETAG, fresh)
        self.assertTrue(fresh.endswith(b"<p>edited</p>\n"))


class OptionsAccountingTests(SynchronousTestCase):
    def test_loggedAndCounted(self) -> None:
        """
        An C{OPTIONS} answer is logged as a 204 with no body and counted
        under route C{other}.
        """
        clock = Clock()
        factory = makeFactory(clock)
        protocol, _ = connect(factory)
        with capturedLogs() as events:
            protocol.dataReceived(get(b"*", method=b"OPTIONS"))
            clock.advance(1)
        [line] = [formatEvent(e) for e in events]
        self.assertTrue(line.endswith('"OPTIONS * HTTP/1.1" 204 - "-" "-"'), line)
        self.assertEqual(factory.counts.figures()["kinds"][0][:3], ["other", "204", 1])
