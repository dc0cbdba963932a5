# -*- test-case-name: tests.test_protocol -*-
"""
The connection handler against a mock stream: the counterpart of the
original's C{MockTcpStream} test, with a L{StringTransport} for the stream and
a L{Clock} for time.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from hello_service.answers.responders import ConcurrentResponder
from hello_service.answers.routes import Route, render
from hello_service.connection.limits import ConnectionLimiter
from hello_service.http import responses

from .support.builders import (
    EPOCH_DATE,
    HELLO,
    NOT_FOUND,
    PAGES,
    connect,
    connectDirect,
    errorResponse,
    get,
    makeFactory,
    response,
    sleepResponse,
)
from .support.doubles import ChokingSocket

CLOSE = b"Connection: close\r\n"


class ExactBytesTests(SynchronousTestCase):
    """
    Each route answers with exactly the bytes the README's Behaviour section
    describes.
    """

    def exchange(self, request: bytes) -> tuple[bytes, bool]:
        protocol, transport = connect(makeFactory())
        protocol.dataReceived(request)
        return transport.value(), transport.disconnecting

    def test_hello(self) -> None:
        """
        C{GET /} answers 200 with the hello page and keeps the connection.
        """
        self.assertEqual(self.exchange(get()), (response(), False))

    def test_notFound(self) -> None:
        """
        Any other path answers 404 with the 404 page.
        """
        self.assertEqual(
            self.exchange(get(b"/nothing-here")),
            (response(b"404 NOT FOUND", NOT_FOUND), False),
        )

    def test_queryIgnored(self) -> None:
        """
        The query string does not take part in routing.
        """
        self.assertEqual(self.exchange(get(b"/?x=1")), (response(), False))

    def test_absoluteForm(self) -> None:
        """
        An absolute-form target routes by its path.
        """
        self.assertEqual(
            self.exchange(get(b"http://example/nothing")),
            (response(b"404 NOT FOUND", NOT_FOUND), False),
        )

    def test_head(self) -> None:
        """
        HEAD answers the same status and headers, without the body.
        """
        self.assertEqual(
            self.exchange(get(method=b"HEAD")), (response(head=True), False)
        )
        self.assertEqual(
            self.exchange(get(b"/missing", method=b"HEAD")),
            (response(b"404 NOT FOUND", NOT_FOUND, head=True), False),
        )

    def test_methodNotAllowed(self) -> None:
        """
        Any other method answers 405 with C{Allow: GET, HEAD, OPTIONS}; the
        connection stays usable since the request was well-formed.
        """
        body = b"405 Method Not Allowed\n"
        self.assertEqual(
            self.exchange(get(method=b"DELETE")),
            (
                response(
                    b"405 Method Not Allowed",
                    body,
                    contentType=b"text/plain; charset=utf-8",
                    extra=b"Allow: GET, HEAD, OPTIONS\r\n",
                ),
                False,
            ),
        )

    def test_unknownMethodToken(self) -> None:
        """
        A well-formed method token the parser does not know is still a 405,
        after which the connection closes.
        """
        self.assertEqual(
            self.exchange(get(method=b"BREW")),
            (
                errorResponse(
                    b"405 Method Not Allowed", b"Allow: GET, HEAD, OPTIONS\r\n"
                ),
                True,
            ),
        )

    def test_versionNotSupported(self) -> None:
        """
        Versions other than HTTP/1.0 and HTTP/1.1 answer 505 and close.
        """
        for request in [
            b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
            b"GET /\r\n\r\n",
        ]:
            self.assertEqual(
                self.exchange(request),
                (errorResponse(b"505 HTTP Version Not Supported"), True),
                request,
            )

    def test_malformed(self) -> None:
        """
        Input the parser refuses answers 400 and closes.
        """
        self.assertEqual(
            self.exchange(b"GET / HTTP/1.1\r\nHost a\r\n\r\n"),
            (errorResponse(b"400 Bad Request"), True),
        )

    def test_connectionClose(self) -> None:
        """
        C{Connection: close} is honoured, and says so in the answer.
        """
        self.assertEqual(
            self.exchange(get(extra=b"Connection: close\r\n")),
            (response(connection=CLOSE), True),
        )

    def test_http10(self) -> None:
        """
        HTTP/1.0 closes after the response unless it asked for keep-alive.
        """
        self.assertEqual(
            self.exchange(b"GET / HTTP/1.0\r\n\r\n"), (response(connection=CLOSE), True)
        )
        self.assertEqual(
            self.exchange(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            (response(connection=b"Connection: keep-alive\r\n"), False),
        )


class PipeliningTests(SynchronousTestCase):
    """
    Requests sent together are answered in the order they came.
    """

    def test_severalInOneWrite(self) -> None:
        """
        Three requests in one write get three answers, in order.
        """
        protocol, transport = connect(makeFactory())
        protocol.dataReceived(get() + get(b"/missing") + get(method=b"HEAD"))
        self.assertEqual(
            transport.value(),
            response() + response(b"404 NOT FOUND", NOT_FOUND) + response(head=True),
        )

    def test_oneByteAtATime(self) -> None:
        """
        A request delivered one byte at a time gets the same answer, once.
        """
        protocol, transport = connect(makeFactory())
        data = get() + get(b"/x")
        for i in range(len(data)):
            protocol.dataReceived(data[i : i + 1])
        self.assertEqual(
            transport.value(), response() + response(b"404 NOT FOUND", NOT_FOUND)
        )

    def test_slowFirstKeepsOrder(self) -> None:
        """
        A fast request pipelined behind C{/sleep} waits for it: nothing is
        written until the delay ends, then both answers in order.
        """
        clock = Clock()
        protocol, transport = connect(makeFactory(clock, delay=5))
        protocol.dataReceived(get(b"/sleep") + get(b"/missing"))
        self.assertEqual(transport.value(), b"")
        clock.advance(5)
        # Each Date says when its answer was made, not when it was sent.
        self.assertEqual(
            transport.value(),
            sleepResponse(date=b"Thu, 01 Jan 1970 00:00:05 GMT")
            + response(b"404 NOT FOUND", NOT_FOUND),
        )

    def test_closeStopsThePipeline(self) -> None:
        """
        Requests after one that asks to close are not answered.
        """
        protocol, transport = connect(makeFactory())
        protocol.dataReceived(get(extra=b"Connection: close\r\n") + get(b"/x"))
        self.assertEqual(transport.value(), response(connection=CLOSE))
        self.assertTrue(transport.disconnecting)

    def test_errorAfterGoodRequests(self) -> None:
        """
        Good requests before a malformed one are answered, then the error,
        then the connection closes.
        """
        clock = Clock()
        protocol, transport = connect(makeFactory(clock, delay=1))
        protocol.dataReceived(get(b"/sleep") + b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        self.assertEqual(transport.value(), b"")
        self.assertFalse(transport.disconnecting)
        clock.advance(1)
        self.assertEqual(
            transport.value(),
            sleepResponse(date=b"Thu, 01 Jan 1970 00:00:01 GMT")
            + errorResponse(b"400 Bad Request"),
        )
        self.assertTrue(transport.disconnecting)


class SleepTests(SynchronousTestCase):
    """
    C{/sleep} waits on a reactor timer, never blocking the reactor.
    """

    def test_answeredAfterDelay(self) -> None:
        """
        Nothing is written before the delay; the exact page after it.
        """
        clock = Clock()
        protocol, transport = connect(makeFactory(clock, delay=5))
        protocol.dataReceived(get(b"/sleep"))
        clock.advance(4.999)
        self.assertEqual(transport.value(), b"")
        clock.advance(0.001)
        self.assertEqual(
            transport.value(), sleepResponse(date=b"Thu, 01 Jan 1970 00:00:05 GMT")
        )

    def test_otherConnectionsNotDelayed(self) -> None:
        """
        While one connection sleeps, another is answered at once.
        """
        clock = Clock()
        factory = makeFactory(clock, delay=5)
        slow, slowTransport = connect(factory)
        fast, fastTransport = connect(factory)
        slow.dataReceived(get(b"/sleep"))
        fast.dataReceived(get())
        self.assertEqual(fastTransport.value(), response())
        self.assertEqual(slowTransport.value(), b"")

    def test_disconnectCancelsTimer(self) -> None:
        """
        A client that leaves during the delay leaves no pending timer, no
        write and no error in the log.
        """
        clock = Clock()
        protocol, transport = connect(makeFactory(clock, delay=5))
        with capturedLogs() as events:
            protocol.dataReceived(get(b"/sleep"))
            self.assertIn(5.0, [call.getTime() for call in clock.getDelayedCalls()])
            protocol.connectionLost(None)  # type: ignore[arg-type]
            self.assertEqual(clock.getDelayedCalls(), [])
            clock.advance(10)
        self.assertEqual(transport.value(), b"")
        self.assertEqual(
            [
                e
                for e in events
                if e.get("log_failure") or e["log_level"].name != "info"
            ],
            [],
        )


class AccessLogTests(SynchronousTestCase):
    """
    One Combined Log Format line per answered request, emitted together
    within a hundredth of a second.
    """

    def test_oneLinePerRequest(self) -> None:
        """
        Each answer is logged with client, request line, status, body size,
        referer and user agent.
        """
        from twisted.logger import formatEvent

        clock = Clock()
        protocol, transport = connect(makeFactory(clock))
        with capturedLogs() as events:
            protocol.dataReceived(
                get(extra=b'User-Agent: t/1 "x"\r\nReferer: http://r/\r\n')
                + get(b"/x", method=b"HEAD")
            )
            protocol.dataReceived(b"GET / HTTP/1.1\r\nbroken\r\n\r\n")
            self.assertEqual(events, [])  # not one by one
            clock.advance(0.01)
        access = [e for e in events if e["log_namespace"] == "hello_service.access"]
        self.assertEqual([e["count"] for e in access], [3])
        lines = formatEvent(access[0]).split("\n")
        self.assertEqual(
            lines,
            [
                '127.0.0.1 - - [01/Jan/1970:00:00:00 +0000] "GET / HTTP/1.1" 200 '
                f'{len(HELLO)} "http://r/" "t/1 \\x22x\\x22"',
                '127.0.0.1 - - [01/Jan/1970:00:00:00 +0000] "HEAD /x HTTP/1.1" 404 '
                '- "-" "-"',
                '127.0.0.1 - - [01/Jan/1970:00:00:00 +0000] "-" 400 16 "-" "-"',
            ],
        )

    def test_jsonTimesFromFirstByteToAnswer(self) -> None:
        """
        With a timed format, each line's duration runs from the request's
        first byte (in an earlier read, for a request sent in pieces) to
        its answer: 5 s for C{/sleep} behind which a pipelined request
        waited, 0.5 s for a head sent slowly, and the refusal of a head that
        never ended counts from its first byte too.
        """
        import json

        from hello_service.connection.accesslog import AccessLog, JsonFormat, LineWriter

        clock = Clock()
        path = self.mktemp()
        log = AccessLog(clock, LineWriter(path=path), JsonFormat())
        factory = makeFactory(clock, accessLog=log)
        protocol, transport = connect(factory)
        protocol.dataReceived(get(b"/sleep") + get())
        clock.advance(5)
        protocol.dataReceived(b"GET / HTTP/1.1\r\n")
        clock.advance(0.5)
        protocol.dataReceived(b"Host: x\r\n\r\nGET / HTTP/1.1\r\n")
        clock.advance(10)
        log.close()
        with open(path) as lines:
            entries = [json.loads(line) for line in lines]
        self.assertEqual(
            [(e["target"], e["status"], e["duration"], e["time"]) for e in entries],
            [
                ("/sleep", 200, 5.0, "1970-01-01T00:00:05.000Z"),
                ("/", 200, 5.0, "1970-01-01T00:00:05.000Z"),
                ("/", 200, 0.5, "1970-01-01T00:00:05.500Z"),
                (None, 408, 10.0, "1970-01-01T00:00:15.500Z"),
            ],
        )
        self.assertFalse(makeFactory(clock).timesRequests)


class ExpectContinueTests(SynchronousTestCase):
    """
    C{Expect: 100-continue} is answered, so a client like curl does not wait
    a second before sending its body.
    """

    def test_continueThenAnswer(self) -> None:
        """
        A head asking for it gets C{100 Continue} at once; the body then
        gets the final answer.
        """
        protocol, transport = connect(makeFactory())
        protocol.dataReceived(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        self.assertEqual(transport.value(), b"HTTP/1.1 100 Continue\r\n\r\n")
        protocol.dataReceived(b"hello")
        self.assertTrue(
            transport.value().startswith(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 405 Method Not Allowed\r\n"
            )
        )

    def test_notWhenBodyAlreadySent(self) -> None:
        """
        A client that sent its body without waiting gets no interim answer.
        """
        protocol, transport = connect(makeFactory())
        protocol.dataReceived(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\nhello"
        )
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 405 "))

    def test_notWhenTooLarge(self) -> None:
        """
        A body over the limit is refused before it is sent.
        """
        protocol, transport = connect(makeFactory())
        protocol.dataReceived(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))


class BackPressureTests(SynchronousTestCase):
    """
    A client pipelining faster than it is answered is stopped in TCP: at
    32 requests waiting for their answers, reading pauses.
    """

    def test_readingPausesAtThirtyTwo(self) -> None:
        """
        31 unanswered requests leave reading on; the 32nd pauses it; once
        the answers are written, reading resumes.
        """
        clock = Clock()
        protocol, transport = connect(makeFactory(clock, delay=1))
        protocol.dataReceived(get(b"/sleep") * 31)
        self.assertEqual(transport.producerState, "producing")
        protocol.dataReceived(get(b"/sleep"))
        self.assertEqual(transport.producerState, "paused")
        clock.advance(1)
        self.assertEqual(transport.value().count(b"HTTP/1.1 200 OK"), 32)
        self.assertEqual(transport.producerState, "producing")


class DirectWriteTests(SynchronousTestCase):
    """
    Answers go straight to the socket while they fit, and through the
    transport from the first one that does not, so the bytes stay in order.
    """

    def test_orderAfterPartialSend(self) -> None:
        """
        A send that takes 10 bytes leaves the rest to the transport; later
        answers follow it through the transport, even once the socket has
        room again.
        """
        socket = ChokingSocket(10)
        protocol, transport = connectDirect(makeFactory(), socket)
        protocol.dataReceived(get())
        self.assertEqual(socket.sent, response()[:10])
        self.assertEqual(transport.value(), response()[10:])
        socket.capacity = 10**6
        protocol.dataReceived(get(b"/x"))
        self.assertEqual(socket.sent, response()[:10])
        self.assertEqual(
            transport.value(), response()[10:] + response(b"404 NOT FOUND", NOT_FOUND)
        )
        self.assertIs(transport.producer, protocol)

    def test_wholeAnswersStayOnTheSocket(self) -> None:
        """
        Answers that fit are sent on the socket and nothing is buffered in
        the transport.
        """
        socket = ChokingSocket(10**6)
        protocol, transport = connectDirect(makeFactory(), socket)
        protocol.dataReceived(get() + get(b"/x"))
        self.assertEqual(
            socket.sent, response() + response(b"404 NOT FOUND", NOT_FOUND)
        )
        self.assertEqual(transport.value(), b"")
        self.assertIsNone(transport.producer)


class UncommonPathTests(SynchronousTestCase):
    """
    Paths the ordinary exchanges do not take.
    """

    def test_oneContinueForABodyInPieces(self) -> None:
        """
        A body that arrives in several pieces after C{Expect: 100-continue}
        gets one C{100 Continue}, not one per piece.
        """
        protocol, transport = connect(makeFactory())
        protocol.dataReceived(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        protocol.dataReceived(b"ab")
        protocol.dataReceived(b"cd")
        protocol.dataReceived(b"ef")
        self.assertEqual(transport.value().count(b"100 Continue"), 1)
        self.assertIn(b"HTTP/1.1 405 ", transport.value())

    def test_readyAnswerQueuedThenLost(self) -> None:
        """
        An answer ready at once but queued behind a slow one is dropped
        quietly when the client leaves.
        """
        clock = Clock()
        slow = ConcurrentResponder(PAGES, 5, clock)

        class Instant:
            mode = "test"

            def reload(self, pages: object) -> None:
                pass

            def respond(self, route: Route) -> Deferred[responses.Response]:
                if route.delayed:
                    return slow.respond(route)  # type: ignore[return-value]
                return succeed(render(route, HELLO, EPOCH_DATE))

        protocol, transport = connect(makeFactory(clock, responder=Instant()))
        with capturedLogs() as events:
            protocol.dataReceived(get(b"/sleep") + get())
            protocol.connectionLost(None)  # type: ignore[arg-type]
            clock.advance(5)
        self.assertEqual(transport.value(), b"")
        self.assertEqual([e for e in events if e["log_level"].name != "info"], [])

    def test_drainKeepsARequestBeingReceived(self) -> None:
        """
        Draining closes an idle connection after the drain grace (1 s), not
        at once; one whose request is half received gets its answer first,
        saying it closes.
        """
        clock = Clock()
        factory = makeFactory(clock)
        idle, idleTransport = connect(factory)
        busy, busyTransport = connect(factory)
        busy.dataReceived(b"GET / HTTP/1.1\r\n")
        factory.drain()
        self.assertFalse(idleTransport.disconnecting)
        self.assertFalse(busyTransport.disconnecting)
        busy.dataReceived(b"Host: x\r\n\r\n")
        self.assertEqual(busyTransport.value(), response(connection=CLOSE))
        self.assertTrue(busyTransport.disconnecting)
        clock.advance(0.99)
        self.assertFalse(idleTransport.disconnecting)
        clock.advance(0.01)
        self.assertTrue(idleTransport.disconnecting)

    def test_drainAnswersARequestWithinTheGrace(self) -> None:
        """
        A request that reaches an idle connection within the drain grace
        (the client was already sending it) gets its whole answer, saying
        it closes; the grace does not start again on a second drain.
        """
        clock = Clock()
        factory = makeFactory(clock)
        idle, transport = connect(factory)
        factory.stopKeepingAlive()
        clock.advance(0.9)
        factory.drain()
        idle.dataReceived(get())
        self.assertEqual(transport.value(), response(connection=CLOSE))
        self.assertTrue(transport.disconnecting)
        other, otherTransport = connect(factory)
        factory.drain()
        clock.advance(0.5)
        factory.drain()
        clock.advance(0.5)
        self.assertTrue(otherTransport.disconnecting)

    def test_clientReadsAgainWithFullPipeline(self) -> None:
        """
        With 32 answers owed, reading stays paused when the client reads
        again: the pipeline limit still holds.
        """
        clock = Clock()
        protocol, transport = connect(makeFactory(clock, delay=1))
        protocol.dataReceived(get(b"/sleep") * 32)
        protocol.pauseProducing()
        protocol.resumeProducing()
        self.assertEqual(transport.producerState, "paused")

    def test_headerTimeoutAfterAnAnswer(self) -> None:
        """
        A request begun behind a slow answer is held to the header timeout
        once that answer goes out (no timer runs while the connection is
        answering): refused with 408 then, not closed as idle.
        """
        clock = Clock()
        protocol, transport = connect(makeFactory(clock, delay=3))
        protocol.dataReceived(get(b"/sleep") + b"GET / HTTP/1.1\r\n")
        clock.advance(3)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 OK"))
        clock.advance(9.99)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.01)
        self.assertIn(b"HTTP/1.1 408 Request Timeout", transport.value())

    def test_dateFollowsTheClock(self) -> None:
        """
        Answers from memory carry the Date of the second they are made in.
        """
        clock = Clock()
        protocol, transport = connect(makeFactory(clock))
        protocol.dataReceived(get())
        clock.advance(1)
        protocol.dataReceived(get())
        self.assertEqual(
            transport.value(),
            response() + response(date=b"Thu, 01 Jan 1970 00:00:01 GMT"),
        )


class CountingTests(SynchronousTestCase):
    def test_connectionsAccepted(self) -> None:
        """
        Every connection made is counted once, held at the limit or not,
        and the count stays after it closes.
        """
        factory = makeFactory(connectionLimiter=ConnectionLimiter(1))
        first, _ = connect(factory)
        connect(factory)  # held: over the limit
        first.connectionLost(None)
        self.assertEqual(factory.counts.connections, 2)
        self.assertEqual(factory.counts.figures()["connections"], 2)
