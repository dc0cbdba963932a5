"""
What the property tests and the fuzz harness share: request material to
build byte streams from, a connection to feed them to in either concurrency
model, and the oracle every run is judged by.

The oracle does not trust the protocol's own counting.  It feeds the same
chunks to a fresh L{RequestReader} (the parser, tested on its own in
C{tests.test_http}) to learn which requests were complete and whether the
input was refused, works out each answer's status and body from the route
rules written out independently here, and then parses what the connection
wrote, response by response, demanding exact framing: one response per
complete request, in order; a C{Content-Length} equal to the body sent (and
to the body a GET would get, for HEAD, which sends none); nothing after a
response that says C{Connection: close}; a refusal only where the parser
refused; no error-level log.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.logger import capturedLogs

from hello_service.answers.responders import ParallelResponder
from hello_service.connection.deadlines import Timeouts
from hello_service.connection.http2 import PREFACE
from hello_service.http import statuslines
from hello_service.http.pages import loadPages
from hello_service.http.requests import HTTPError, Request, RequestReader

from .builders import HELLO, NOT_FOUND, connect, connectDirect, makeFactory
from .doubles import ChokingSocket, ImmediateReactor, QueueingThreadPool

#: Well-formed requests; any concatenation is a valid pipelined stream.
VALID_REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /sleep?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /missing HTTP/1.1\r\nHost: x\r\nUser-Agent: fuzz\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HEAD /sleep HTTP/1.1\r\nHost: x\r\n\r\n",
    b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /sleep HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS /sleep HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n",
    b'HEAD / HTTP/1.1\r\nHost: x\r\nIf-None-Match: "nope", *\r\n\r\n',
    b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=2-5\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=99-\r\n\r\n",
    b"GET /sleep HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n",
]

#: Pieces that break requests in interesting ways when spliced in.
HOSTILE_PIECES = [
    b"\r\n", b"\n", b"\r", b"\x00", b" ", b"\t", b":", b"Content-Length: 3\r\n",
    b"Transfer-Encoding: chunked\r\n", b"Host: y\r\n", b"Connection: close\r\n",
    b"HTTP/1.1", b"HTTP/2.0", b"0\r\n\r\n", b"ffffffff\r\n", b"\xff\xfe",
    b"GET", b"POST", b"/sleep", b"a" * 300, b"Expect: 100-continue\r\n",
    b"Upgrade: websocket\r\n", b"BREW",
]  # fmt: skip

STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")

validStreams = st.lists(st.sampled_from(VALID_REQUESTS), min_size=1, max_size=8).map(
    b"".join
)

#: The pages of the parallel mode, read from disk by every request.
_PAGES_DIRECTORY = Path(tempfile.mkdtemp(prefix="hello-fuzz-pages-"))
(_PAGES_DIRECTORY / "hello.html").write_bytes(HELLO)
(_PAGES_DIRECTORY / "404.html").write_bytes(NOT_FOUND)


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """
    C{data} cut into chunks at arbitrary places.
    """
    cuts = sorted(
        draw(st.lists(st.integers(0, len(data)), max_size=min(len(data), 20)))
    )
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@st.composite
def mutatedStreams(draw: st.DrawFn) -> bytes:
    """
    A valid stream with pieces deleted, replaced or inserted.
    """
    data = bytearray(draw(validStreams))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "byte"]))
        piece = draw(st.sampled_from(HOSTILE_PIECES))
        if action == "insert":
            data[at:at] = piece
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 10))]
        elif action == "replace":
            data[at : at + len(piece)] = piece
        else:
            data[at : at + 1] = bytes([draw(st.integers(0, 255))])
    return bytes(data)


@dataclass(frozen=True)
class Conditions:
    """
    How a connection is served during one run.

    @ivar parallel: the thread-pool model (work finished in C{finishOrder})
        rather than the reactor-timer one.
    @ivar delay: the C{/sleep} delay, in seconds of the fake clock.
    @ivar sendCapacity: answers go straight to a socket that takes this many
        bytes and then would block (L{None}: through the transport only).
    @ivar timeOut: after the input, let every timeout expire.
    @ivar finishOrder: in parallel mode, which queued work finishes next, as
        indexes taken modulo the queue's length.
    """

    parallel: bool = False
    delay: float = 0.0
    sendCapacity: int | None = None
    timeOut: bool = False
    finishOrder: tuple[int, ...] = field(default=())


#: The ordinary case: concurrent, no delay, writes through the transport.
PLAIN = Conditions()


@st.composite
def conditions(draw: st.DrawFn) -> Conditions:
    """
    Both models always; real delays, timeouts and the direct-write path in
    a bounded share of the runs (about a third each).
    """
    parallel = draw(st.booleans())
    return Conditions(
        parallel=parallel,
        delay=0.0 if parallel else draw(st.sampled_from([0.0, 0.0, 1.0])),
        sendCapacity=draw(st.one_of(st.none(), st.none(), st.integers(0, 600))),
        timeOut=draw(st.sampled_from([False, False, True])),
        finishOrder=tuple(draw(st.lists(st.integers(0, 7), max_size=8))),
    )


@dataclass
class Served:
    """
    What one run of a connection produced.
    """

    written: bytes
    closing: bool


def serve(chunks: list[bytes], how: Conditions = PLAIN) -> Served:
    """
    Feed C{chunks} to a fresh connection served as C{how} says, let any
    delays and queued work finish (and, if asked, the timeouts expire), and
    return what it wrote.  Raises if the protocol raises or logs an error.
    """
    clock = Clock()
    pool = QueueingThreadPool()
    if how.parallel:
        responder = ParallelResponder(
            loadPages(_PAGES_DIRECTORY),
            0.0,
            ImmediateReactor(),  # type: ignore[arg-type]
            pool,  # type: ignore[arg-type]
        )
        factory = makeFactory(clock, responder=responder)
    else:
        factory = makeFactory(clock, delay=how.delay)
    socket = None
    if how.sendCapacity is None:
        protocol, transport = connect(factory)
    else:
        socket = ChokingSocket(how.sendCapacity)
        protocol, transport = connectDirect(factory, socket)
    with capturedLogs() as events:
        for chunk in chunks:
            protocol.dataReceived(chunk)
        _finishWork(pool, how.finishOrder)
        clock.advance(0)
        if how.delay:
            clock.advance(how.delay)
        if how.timeOut:
            timeouts = Timeouts()
            clock.advance(max(timeouts.header, timeouts.idle) + 1)
    bad = [e for e in events if e["log_level"].name in ("error", "critical")]
    assert not bad, bad
    sent = socket.sent if socket is not None else b""
    closing = transport.disconnecting or getattr(transport, "halfClosed", False)
    return Served(sent + transport.value(), closing)


def _finishWork(pool: QueueingThreadPool, order: tuple[int, ...]) -> None:
    """
    Finish every queued piece of work, first in the given order, then the
    rest oldest first.
    """
    for index in order:
        if pool.queued:
            pool.finish(index % len(pool.queued))
    while pool.queued:
        pool.finish()


# The oracle.


@dataclass(frozen=True)
class Expected:
    """
    One answer the connection owes: its status code, the body a GET of it
    carries, whether its body is left out (HEAD), how the connection goes
    on after it (C{b""} for HTTP/1.1 keep-alive), and whether it is framed
    by a Content-Length (204 and 304 have no body and none).
    """

    status: bytes
    body: bytes
    head: bool
    connection: bytes
    framed: bool = True


_PLAIN_TEXT_405 = b"405 Method Not Allowed\n"


def _answerTo(request: Request) -> tuple[bytes, bytes]:
    """
    The status code and body of a request, by the rules of the route table
    and of conditional and range requests written out again: GET and HEAD of
    C{/} and C{/sleep} (whatever the query) get the hello page, of anything
    else the 404 page; OPTIONS of a route or of C{*} a 204; any other method
    a 405.  The hello page (not C{/sleep}) answers C{If-None-Match: *} with a
    304, and a GET of C{Range: bytes=2-5} with a 206 of those bytes, and of
    a range past its end with a 416.
    """
    method, target = request.method, request.target
    if method not in (b"GET", b"HEAD", b"OPTIONS"):
        return b"405", _PLAIN_TEXT_405
    if b"://" in target and not target.startswith(b"/"):
        rest = target.split(b"://", 1)[1]
        target = rest[rest.find(b"/") :] if b"/" in rest else b"/"
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    if method == b"OPTIONS" and (path in (b"/", b"/sleep") or target == b"*"):
        return b"204", b""
    if path not in (b"/", b"/sleep"):
        return b"404", NOT_FOUND
    conditions = request.conditions or {}
    tags = [t.strip() for t in conditions.get(b"if-none-match", b"").split(b",")]
    if path == b"/" and b"*" in tags:
        return b"304", b""
    if path == b"/" and method == b"GET" and b"range" in conditions:
        return _rangeAnswer(conditions[b"range"])
    return b"200", HELLO


def _rangeAnswer(value: bytes) -> tuple[bytes, bytes]:
    """
    The answer to a GET of the hello page with C{Range: value}, by RFC 9110
    section 14 written out again: one byte range (C{a-b}, C{a-} or C{-n})
    gets its bytes, one past the end a 416, anything else the whole page.
    """
    size = len(HELLO)
    found = re.fullmatch(rb"\s*bytes\s*=\s*(\d*)-(\d*)\s*", value, re.IGNORECASE)
    if not found or not (found.group(1) or found.group(2)):
        return b"200", HELLO
    first, last = found.group(1), found.group(2)
    if not first:
        if int(last) == 0:
            return b"416", b"416 Range Not Satisfiable\n"
        return b"206", HELLO[-int(last) :]
    if last and int(last) < int(first):
        return b"200", HELLO
    if int(first) >= size:
        return b"416", b"416 Range Not Satisfiable\n"
    return b"206", HELLO[int(first) : (int(last) + 1 if last else size)]


def asDelivered(chunks: list[bytes]) -> list[bytes]:
    """
    The reads as HTTP/1.1's reader gets them: empty reads before the first
    byte are nothing, and a connection's first bytes, while they may still
    begin the HTTP/2 preface, are held and then delivered together.
    """
    held = b""
    for index, chunk in enumerate(chunks):
        held += chunk
        if held and not (len(held) < len(PREFACE) and PREFACE.startswith(held)):
            return [held, *chunks[index + 1 :]]
    return [held] if held else list(chunks)


def expectedAnswers(chunks: list[bytes], how: Conditions = PLAIN) -> list[Expected]:
    """
    What a correct connection answers to C{chunks}: one answer per complete
    request up to and including the first that closes the connection; then,
    if the parser refused the input (and nothing closed before), the
    refusal; or, when the timeouts expire on a request begun and not
    finished, a 408.
    """
    reader = RequestReader()
    requests: list[Request] = []
    for chunk in asDelivered(chunks):
        requests.extend(reader.feed(chunk))
    answers = []
    for request in requests:
        status, body = _answerTo(request)
        if not request.keepAlive:
            connection = b"close"
        elif request.version == b"1.0":
            connection = b"keep-alive"
        else:
            connection = b""
        answers.append(
            Expected(
                status,
                body,
                request.method == b"HEAD",
                connection,
                framed=status not in (b"204", b"304"),
            )  # fmt: skip
        )
        if not request.keepAlive:
            return answers
    error = reader.error
    if error is None and how.timeOut and reader.midRequest:
        error = HTTPError(statuslines.REQUEST_TIMEOUT, "request too slow")
    if error is not None:
        answers.append(
            Expected(error.status[:3], error.status + b"\n", False, b"close")
        )
    return answers


def _parseHead(written: bytes, at: int) -> tuple[bytes, dict[bytes, bytes], int]:
    """
    The status code and header fields of the response head at C{at}, and
    where its body starts.  Every field name must appear once.
    """
    end = written.find(b"\r\n\r\n", at)
    assert end >= 0, f"a response head that never ends: {written[at:]!r}"
    lines = written[at:end].split(b"\r\n")
    match = re.fullmatch(rb"HTTP/1\.1 (\d{3}) [^\r\n]+", lines[0])
    assert match, f"not a status line: {lines[0]!r}"
    fields: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b": ")
        assert colon and name and value, f"not a header field: {line!r}"
        assert name.lower() not in fields, f"{name!r} twice in {lines!r}"
        fields[name.lower()] = value
    return match.group(1), fields, end + 4


def checkAnswers(written: bytes, closing: bool, expected: list[Expected]) -> None:
    """
    Parse C{written} as responses and hold each to its expected answer, with
    exact framing, and nothing written after the last one.
    """
    at = 0
    for index, answer in enumerate(expected):
        if at == len(written):
            raise AssertionError(
                f"only {index} of {len(expected)} answers written: "
                f"{[a.status for a in expected]}, got {written!r}"
            )
        status, fields, at = _parseHead(written, at)
        while status == b"100":
            # The interim answer to Expect: 100-continue: a bare status line.
            assert not fields, fields
            status, fields, at = _parseHead(written, at)
        assert status == answer.status, (index, status, expected, written)
        length = fields.get(b"content-length")
        assert b"date" in fields, fields
        if answer.framed:
            assert length is not None and length.isdigit(), fields
            assert int(length) == len(answer.body), (index, fields, answer)
            assert b"content-type" in fields, fields
        else:
            assert length is None and b"content-type" not in fields, fields
        assert fields.get(b"connection", b"") == answer.connection, (index, fields)
        if not answer.head:
            assert written[at : at + len(answer.body)] == answer.body, (
                index,
                written[at:],
            )
            at += len(answer.body)
    # A request whose head asked for 100 Continue and whose body is not all
    # here yet may have been told to go on: an interim answer, owed nothing.
    continuing = b"HTTP/1.1 100 Continue\r\n\r\n"
    while written.startswith(continuing, at):
        at += len(continuing)
    assert at == len(written), f"written after the last answer: {written[at:]!r}"
    lastCloses = bool(expected) and expected[-1].connection == b"close"
    assert closing == lastCloses, (closing, expected)


def checkInvariants(chunks: list[bytes], how: Conditions = PLAIN) -> None:
    """
    Whatever the bytes, served however: no exception, no error logged, and
    exactly the answers the oracle expects, exactly framed.  (Without
    timeouts expiring, a connection may also stay open waiting for the rest
    of a request: then it owes nothing more yet.)
    """
    served = serve(chunks, how)
    if b"".join(chunks).startswith(PREFACE):
        # HTTP/2 (tests.test_http2 is its oracle): frames, starting with
        # the server's SETTINGS, and never an HTTP/1.1 answer.
        assert served.written[3:4] == b"\x04", served.written[:40]
        assert b"HTTP/1.1 " not in served.written, served.written[:200]
        return
    expected = expectedAnswers(chunks, how)
    if not how.timeOut or (expected and expected[-1].connection == b"close"):
        checkAnswers(served.written, served.closing, expected)
        return
    # Timeouts expired on a connection that owed no refusal: the idle
    # timeout closed it, silently.
    checkAnswers(served.written, False, expected)
    assert served.closing, "an idle connection outlived its idle timeout"
