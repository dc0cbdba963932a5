# -*- test-case-name: tests.test_requests -*-
"""
The request side of HTTP/1.1, free of I/O: bytes in, requests out.

Parsing is done by C{httptools} (the llhttp parser of Node.js), which already
refuses the request-smuggling forms (Content-Length with Transfer-Encoding,
duplicate Content-Length, unknown codings, bad chunk sizes, bare LF, obs-fold,
NUL or CR in fields).  This module adds what a server must decide on top of
it: size limits, the Host rule, supported versions and keep-alive.  It
imports nothing from Twisted, so it is tested with byte strings alone; the
answers live in L{hello_service.http.responses}.
"""

from __future__ import annotations

from dataclasses import dataclass

from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserInvalidMethodError,
    HttpParserInvalidURLError,
    HttpParserUpgrade,
    HttpRequestParser,
)

from hello_service.http.proxytrust import FORWARDING_HEADERS
from hello_service.http.statuslines import (
    BAD_REQUEST,
    CONTENT_TOO_LARGE,
    HEADERS_TOO_LARGE,
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    URI_TOO_LONG,
    VERSION_NOT_SUPPORTED,
)

#: The request headers of conditional and range requests (see caching.py):
#: the only ones kept besides those the service itself needs.
CONDITION_HEADERS = frozenset(
    {
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"range",
        b"if-range",
    }
)

#: llhttp's reasons for refusing a version; the HTTP/2 connection preface
#: ("PRI * HTTP/2.0") is one too.
_VERSION_ERRORS = frozenset(
    {
        "Invalid HTTP version",
        "Invalid major version",
        "Invalid minor version",
        "Pause on PRI/Upgrade",
    }
)

_TOKEN_CHARACTERS = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


@dataclass(frozen=True)
class RequestLimits:
    """
    How much a client may send in one request: 8 KiB of request line, 16 KiB
    of head, 100 header fields and 64 KiB of body by default (as the README's
    "Limits and timeouts" table says).
    """

    maxRequestLine: int = 8 * 1024
    maxHead: int = 16 * 1024
    maxHeaders: int = 100
    maxBody: int = 64 * 1024


DEFAULT_LIMITS = RequestLimits()


class HTTPError(Exception):
    """
    The client sent something we refuse.  Carries the status line to answer
    with; the connection is closed after that answer.
    """

    def __init__(self, status: bytes, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"HTTPError({self.status!r}, {self.reason!r})"


#: What a reader says after its connection closed: shared, since building
#: an exception per closed connection costs more than the reader's close.
_CLOSED = HTTPError(BAD_REQUEST, "connection closed")


class Request:
    """
    One complete request, as much of it as the service needs.
    """

    __slots__ = (
        "method",
        "target",
        "version",
        "keepAlive",
        "referer",
        "userAgent",
        "conditions",
        "forwarding",
    )

    def __init__(
        self,
        method: bytes,
        target: bytes,
        version: bytes,
        keepAlive: bool,
        referer: bytes = b"-",
        userAgent: bytes = b"-",
        conditions: dict[bytes, bytes] | None = None,
        forwarding: dict[bytes, bytes] | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.keepAlive = keepAlive
        self.referer = referer
        self.userAgent = userAgent
        #: Its preconditions and range (L{CONDITION_HEADERS}, by lower-case
        #: name), or C{None} when it has none, as most requests.
        self.conditions = conditions
        #: Its forwarding headers (C{Forwarded}, C{X-Forwarded-For}, by
        #: lower-case name), or C{None}: only a trusted proxy's are believed
        #: (L{hello_service.http.proxytrust.TrustedProxies}).
        self.forwarding = forwarding

    def __repr__(self) -> str:
        return (
            f"Request({self.method!r}, {self.target!r}, {self.version!r}, "
            f"keepAlive={self.keepAlive})"
        )


#: Stands for the request in the access log and in ordering when the bytes
#: could not be parsed into one.
UNPARSED = Request(b"-", b"-", b"-", False)


class RequestReader:
    """
    Turns the bytes of one connection into L{Request}s.

    Feed it bytes as they come; it returns the requests completed by them, in
    order.  When the bytes break a rule it sets L{error} and accepts nothing
    more: the connection must answer the requests returned so far, then the
    error, then close.

    @ivar error: what was wrong with the input, or C{None}.
    @ivar midRequest: whether part of a request has been received but not
        all of it.
    @ivar trailing: whether bytes came after a request that closes the
        connection (never read as a request: its answer's close must not
        reset the connection under it).
    @ivar continueWanted: the request being read asked, with C{Expect:
        100-continue}, to hear that it may send its body, and has not sent
        it yet.
    """

    __slots__ = (
        "error",
        "continueWanted",
        "_expectContinue",
        "_parser",
        "_limits",
        "_done",
        "_url",
        "_headerCount",
        "_headBytes",
        "_rawHeadBytes",
        "_inBody",
        "midRequest",
        "trailing",
        "_bodyBytes",
        "_hosts",
        "_referer",
        "_userAgent",
        "_conditions",
        "_forwarding",
        "_request",
    )

    def __init__(self, limits: RequestLimits = DEFAULT_LIMITS) -> None:
        self.error: HTTPError | None = None
        self.continueWanted = self._expectContinue = False
        self._parser = HttpRequestParser(self)
        self._limits = limits
        self._done: list[Request] = []
        self._inBody = self.midRequest = False
        self.trailing = False
        self._rawHeadBytes = 0
        self._bodyBytes = 0
        self._request = UNPARSED
        self._conditions: dict[bytes, bytes] | None = None
        self._forwarding: dict[bytes, bytes] | None = None

    def feed(self, data: bytes) -> list[Request]:
        """
        Parse more bytes.

        @return: the requests these bytes completed, oldest first.
        """
        if self.error is not None:
            return []
        if not self._inBody:
            self._rawHeadBytes += len(data)
        try:
            self._parser.feed_data(data)
        except HttpParserCallbackError as failure:
            # Our callbacks refuse a request by raising HTTPError; llhttp
            # stops and httptools raises its own error instead, with ours as
            # the exception being handled when it was raised: __context__.
            cause = failure.__context__
            if isinstance(cause, HTTPError):
                self._fail(cause)
            else:
                # A bug of ours inside a callback: still the client's
                # connection only, and still an answer rather than silence.
                self._fail(HTTPError(INTERNAL_ERROR, f"internal error: {cause!r}"))
        except HttpParserUpgrade:
            # The request asked to switch protocols.  We answer it as HTTP/1.1
            # and close, since whatever follows it is not HTTP/1.1.
            if self._done:
                self._done[-1].keepAlive = False
            else:
                self._fail(HTTPError(BAD_REQUEST, "unexpected protocol switch"))
        except HttpParserInvalidMethodError:
            self._fail(self._methodError(data))
        except HttpParserInvalidURLError as failure:
            self._fail(HTTPError(BAD_REQUEST, str(failure)))
        except HttpParserError as failure:
            self._fail(self._parseError(str(failure)))
        if self._rawHeadBytes > self._limits.maxHead and self.error is None:
            # A request target over its own limit is refused by on_url (414)
            # before the head reaches this one: what overflows is headers.
            self._fail(HTTPError(HEADERS_TOO_LARGE, "request head too large"))
        done = self._done
        if done:
            self._done = []
        return done

    def close(self) -> None:
        """
        The connection is gone: drop the parser, which holds this reader's
        callbacks (a reference cycle the cyclic garbage collector would
        otherwise have to find).  Nothing can be fed after this.
        """
        self._parser = None  # type: ignore[assignment]
        self.error = _CLOSED

    def _fail(self, error: HTTPError) -> None:
        done = self._done
        if done and not done[-1].keepAlive:
            # The last complete request closes the connection: whatever came
            # after it is never read, so it cannot be an error either.
            self.trailing = True
            return
        self.error = error

    def _parseError(self, message: str) -> HTTPError:
        if message in _VERSION_ERRORS:
            return HTTPError(VERSION_NOT_SUPPORTED, message)
        return HTTPError(BAD_REQUEST, message)

    def _methodError(self, data: bytes) -> HTTPError:
        """
        llhttp knows every registered method; one it refuses is either a
        well-formed token we do not serve (405) or not a token at all (400).
        The token is only looked at when the refused request began with this
        chunk, which is the only case where we know where it starts.
        """
        beganWithThisChunk = self._rawHeadBytes == len(data)
        method, space, _ = data.partition(b" ")
        if (
            beganWithThisChunk
            and space
            and method
            and _TOKEN_CHARACTERS.issuperset(method)
        ):
            return HTTPError(METHOD_NOT_ALLOWED, "method not allowed")
        return HTTPError(BAD_REQUEST, "invalid method")

    # httptools callbacks: called from inside feed_data, once per event.
    # The parser looks each one up when it is made; those we do not need are
    # None, which it skips (a missing one would cost an AttributeError per
    # connection).
    on_chunk_header = on_chunk_complete = None

    def on_message_begin(self) -> None:
        # The first byte of a request: it may be the last byte of a chunk
        # that completed others, so the chunk's size cannot tell.  The head
        # being read starts afresh here.
        self.midRequest = True
        self._url = b""
        self._headerCount = self._headBytes = self._hosts = 0
        self._referer = self._userAgent = b"-"
        self._conditions = self._forwarding = None

    def on_url(self, url: bytes) -> None:
        url = self._url + url
        self._url = url
        if len(url) > self._limits.maxRequestLine:
            raise HTTPError(URI_TOO_LONG, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        count = self._headerCount = self._headerCount + 1
        size = self._headBytes = self._headBytes + len(name) + len(value) + 4
        limits = self._limits
        if count > limits.maxHeaders:
            raise HTTPError(HEADERS_TOO_LARGE, "too many header fields")
        if size + len(self._url) > limits.maxHead:
            raise HTTPError(HEADERS_TOO_LARGE, "request head too large")
        name = name.lower()
        if name == b"host":
            self._hosts += 1
        elif name == b"user-agent":
            self._userAgent = value
        elif name == b"referer":
            self._referer = value
        elif name == b"content-length" and int(value) > limits.maxBody:
            raise HTTPError(CONTENT_TOO_LARGE, "request body too large")
        elif name == b"expect" and value.lower() == b"100-continue":
            self._expectContinue = True
        elif name in CONDITION_HEADERS:
            self._conditions = keptHeaders(self._conditions, name, value)
        elif name in FORWARDING_HEADERS:
            self._forwarding = keptHeaders(self._forwarding, name, value)

    def on_headers_complete(self) -> None:
        parser = self._parser
        version = parser.get_http_version()
        if version == "1.1":
            if self._hosts != 1:
                raise HTTPError(BAD_REQUEST, "HTTP/1.1 needs exactly one Host")
            versionBytes = b"1.1"
        elif version == "1.0":
            if self._hosts > 1:
                raise HTTPError(BAD_REQUEST, "more than one Host")
            versionBytes = b"1.0"
        else:
            raise HTTPError(VERSION_NOT_SUPPORTED, f"HTTP/{version} not supported")
        self._request = Request(
            parser.get_method(),
            self._url,
            versionBytes,
            parser.should_keep_alive(),
            self._referer,
            self._userAgent,
            self._conditions,
            self._forwarding,
        )
        self._inBody = True
        self._rawHeadBytes = 0
        if self._expectContinue:
            self._expectContinue = False
            self.continueWanted = versionBytes == b"1.1"

    def on_body(self, body: bytes) -> None:
        self._bodyBytes += len(body)
        if self._bodyBytes > self._limits.maxBody:
            raise HTTPError(CONTENT_TOO_LARGE, "request body too large")

    def on_message_complete(self) -> None:
        self._done.append(self._request)
        self._inBody = self.midRequest = False
        self.trailing = False
        self._bodyBytes = 0
        self.continueWanted = False  # the body is here already


def keptHeaders(
    headers: dict[bytes, bytes] | None, name: bytes, value: bytes
) -> dict[bytes, bytes]:
    """
    The headers kept of a request, with this field added: a list header
    may come in several lines, and is one list.
    """
    if headers is None:
        return {name: value}
    previous = headers.get(name)
    headers[name] = value if previous is None else previous + b", " + value
    return headers


def requestPath(target: bytes) -> bytes:
    """
    The path of a request target: the query and fragment do not take part in
    routing, and an absolute-form target (C{http://host/path}) routes by its
    path.
    """
    if target[:1] != b"/":
        _, separator, rest = target.partition(b"://")
        if not separator:
            return target
        slash = rest.find(b"/")
        target = rest[slash:] if slash >= 0 else b"/"
    for mark in (b"?", b"#"):
        end = target.find(mark)
        if end >= 0:
            target = target[:end]
    return target
