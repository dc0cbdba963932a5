# -*- test-case-name: tests.test_http2,tests.test_http3 -*-
"""
What HTTP/2 and HTTP/3 share above their framing: many requests on one
connection, each a stream, each asked of the answer layer as soon as it
is whole and answered as soon as its answer is ready, whatever the streams
before it wait for; a stream's work cancelled when the stream goes.

Each session (L{hello_service.connection.http2.session},
L{hello_service.connection.http3.session}) keeps its streams in
C{_streams} and says how an answer or a refusal goes on its wire
(C{_respond}, C{_refuse}) and what follows an answer that came later than
its request's last byte (C{_answeredLater}: send it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from twisted.internet.defer import CancelledError, Deferred
from twisted.python.failure import Failure

from hello_service.http.requests import UNPARSED, HTTPError, Request
from hello_service.http.responses import Response
from hello_service.http.statuslines import INTERNAL_ERROR

if TYPE_CHECKING:
    from twisted.logger import Logger

    from hello_service.connection.session import Shared


class Stream:
    """
    One request on the connection: what has come of it, and its answer
    while it is worked on.
    """

    __slots__ = ("request", "began", "ended", "body", "deferred", "unsent")

    def __init__(self, began: float) -> None:
        self.request: Request = UNPARSED
        #: When its headers came, for the access log and the header timeout.
        self.began = began
        #: The client has sent all of it.
        self.ended = False
        #: Body bytes received so far.
        self.body = 0
        #: Its answer, while it is being worked on.
        self.deferred: Deferred[Response] | None = None
        #: What the client's flow-control window has not let out yet (over
        #: HTTP/2, where the session keeps the windows; QUIC keeps its own).
        self.unsent = b""


#: A session's kind of stream.
S = TypeVar("S", bound=Stream)


class StreamAnswers(Generic[S]):
    """
    Asks the answer layer for each whole stream's answer, and sends it when
    it is ready, if the stream is still there.
    """

    log: Logger
    factory: Shared
    _streams: dict[int, S]

    def _dispatch(self, streamId: int, stream: S) -> None:
        answer = self.factory.answerer.answer(stream.request)
        if type(answer) is Response:
            self._respond(streamId, stream, answer)
            return
        deferred: Deferred[Response] = answer  # type: ignore[assignment]
        stream.deferred = deferred
        deferred.addCallbacks(
            self._ready, self._failed, callbackArgs=(streamId, stream),
            errbackArgs=(streamId, stream),
        )  # fmt: skip

    def _ready(self, response: Response, streamId: int, stream: S) -> None:
        stream.deferred = None
        if self._streams.get(streamId) is stream:
            self._respond(streamId, stream, response)
            self._answeredLater()

    def _failed(self, reason: Failure, streamId: int, stream: S) -> None:
        stream.deferred = None
        if reason.check(CancelledError) or self._streams.get(streamId) is not stream:
            return
        self.log.error(
            "request {request!r} failed: {error}",
            request=stream.request, error=reason.getErrorMessage(),
        )  # fmt: skip
        self._refuse(
            streamId, stream, HTTPError(INTERNAL_ERROR, reason.getErrorMessage())
        )
        self._answeredLater()

    def _respond(self, streamId: int, stream: S, response: Response) -> None:
        """Send C{response} on the stream."""
        raise NotImplementedError()

    def _refuse(self, streamId: int, stream: S, error: HTTPError) -> None:
        """Answer a stream that broke a rule with the refusal it is owed."""
        raise NotImplementedError()

    def _answeredLater(self) -> None:
        """An answer was made after its request's last byte: send it now."""
        raise NotImplementedError()
