# -*- test-case-name: tests.test_answers,tests.test_caching -*-
"""
The answer layer: from a parsed request to the answer it is owed.

Everything HTTP decides about an answer happens here, outside the
connection: the route (L{hello_service.answers.routes}), the concurrency model that
makes the answer (L{hello_service.answers.responders}), the conditional and range
evaluation of the page (L{hello_service.answers.caching}), and the answers to
refused input.  The connection (L{hello_service.connection.protocol}) only asks, then
moves the bytes, as Twisted's C{HTTPChannel} leaves those decisions to the
resource.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime

from hello_service.answers.caching import evaluate
from hello_service.answers.responders import Answer, Responder
from hello_service.answers.routes import refusal, route
from hello_service.http.dates import httpDate
from hello_service.http.requests import HTTPError, Request
from hello_service.http.responses import Response


class Answerer:
    """
    Answers requests with a concurrency model's L{Responder}.

    @ivar mode: the concurrency model's name, for the start-up line.
    """

    def __init__(self, responder: Responder, clock: IReactorTime) -> None:
        self.mode = responder.mode
        self._respond = responder.respond
        #: Answer with other pages from now on (SIGHUP).
        self.reload = responder.reload
        self._clock = clock

    def answer(self, request: Request) -> Answer:
        """
        The answer to C{request}: a L{Response} at once, or a C{Deferred}
        firing with one on the reactor thread (cancel it to abandon the
        work).
        """
        answer = self._respond(route(request))
        if request.conditions is None:  # most requests: nothing to evaluate
            return answer
        if type(answer) is Response:
            return evaluate(request, answer)
        return answer.addCallback(  # type: ignore[union-attr]
            lambda response: evaluate(request, response)
        )

    def refuse(self, error: HTTPError) -> Response:
        """
        The answer to input that breaks a rule, whatever the concurrency
        model: always built at once, on the reactor thread.  (Refusals are
        rare and close their connection, so the Date is formatted afresh.)
        """
        return refusal(error, httpDate(self._clock.seconds()))
