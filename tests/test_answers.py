"""
Tests for L{hello_service.answers.answers}: the answer layer decides conditional
and range requests, at once or when a deferred answer arrives, and answers
refused input.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from hello_service.answers.answers import Answerer
from hello_service.answers.responders import ConcurrentResponder
from hello_service.http import statuslines
from hello_service.http.requests import HTTPError, Request
from hello_service.http.responses import Response

from .support.builders import HELLO_ETAG, PAGES


def request(path: bytes, **conditions: bytes) -> Request:
    return Request(
        b"GET",
        path,
        b"1.1",
        True,
        conditions={k.replace("_", "-").encode(): v for k, v in conditions.items()}
        or None,
    )


class AnswererTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.answerer = Answerer(
            ConcurrentResponder(PAGES, 1.0, self.clock), self.clock
        )

    def test_plainRequestAnsweredAsRouted(self) -> None:
        """
        A request without conditions gets the route's answer as it is.
        """
        answer = self.answerer.answer(request(b"/"))
        assert isinstance(answer, Response)
        self.assertEqual(answer.status, b"200")
        self.assertEqual(self.answerer.mode, "concurrent")

    def test_conditionsDecidedAtOnce(self) -> None:
        """
        A matching If-None-Match turns the page into a 304 here, before the
        connection sees it.
        """
        answer = self.answerer.answer(request(b"/", if_none_match=HELLO_ETAG))
        assert isinstance(answer, Response)
        self.assertEqual(answer.status, b"304")
        self.assertEqual(answer.label, "/")

    def test_conditionsDecidedWhenDeferredArrives(self) -> None:
        """
        A deferred answer has its conditions evaluated when it arrives: a
        range of C{/sleep} (no validators) is the whole page.
        """
        answer = self.answerer.answer(request(b"/sleep", range=b"bytes=0-1"))
        assert isinstance(answer, Deferred)
        results: list[Response] = []
        answer.addCallback(results.append)
        self.clock.advance(1.0)
        self.assertEqual([r.status for r in results], [b"200"])

    def test_refusal(self) -> None:
        """
        Refused input is answered with its status, dated now.
        """
        self.clock.advance(86400)
        response = self.answerer.refuse(HTTPError(statuslines.BAD_REQUEST, "bad"))
        self.assertEqual(response.status, b"400")
        self.assertEqual(response.date, b"Fri, 02 Jan 1970 00:00:00 GMT")
