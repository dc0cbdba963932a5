# -*- test-case-name: tests.test_responders,tests.test_protocol -*-
"""
The two concurrency models of the original, as two ways to answer a route.

L{ConcurrentResponder} is the C{for_each_concurrent} stage: everything runs as
reactor events on one thread, the pages are answered from memory and
C{/sleep} waits on a reactor timer.  L{ParallelResponder} is the
C{task::spawn} stage: the request's work runs as ordinary blocking code in a
thread pool through C{deferToThreadPool}, and the response comes back to the
reactor thread as the result of a C{Deferred}.

Either answers with a L{Response} at once or with a C{Deferred} that fires
with one; the connection neither knows nor cares which model made it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Protocol as TypingProtocol
from typing import Union

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from hello_service.answers.routes import DEFAULT_CACHE_CONTROL, Route, render
from hello_service.http.dates import DateCache, httpDate
from hello_service.http.pages import HELLO_PAGE, NOT_FOUND_PAGE, Pages, readPageAndTime
from hello_service.http.responses import Response
from hello_service.http.validators import Validators

Answer = Union[Response, "Deferred[Response]"]


class Responder(TypingProtocol):
    """
    What a connection asks of a concurrency model.
    """

    mode: str

    def respond(self, route: Route) -> Answer:
        """
        Answer C{route}: a L{Response}, or a C{Deferred} firing with one
        on the reactor thread.  Cancelling the C{Deferred} abandons the work.
        """

    def reload(self, pages: Pages) -> None:
        """
        Answer with C{pages} from now on (SIGHUP).
        """


class ConcurrentResponder:
    """
    Answers from pages held in memory, with responses built once a second
    (when the Date changes) and shared by every request of that second.
    """

    mode = "concurrent"

    def __init__(
        self,
        pages: Pages,
        delay: float,
        clock: IReactorTime,
        cacheControl: bytes = DEFAULT_CACHE_CONTROL,
    ) -> None:
        self._cacheControl = cacheControl
        self._delay = delay
        self._clock = clock
        self._date = DateCache()
        self.reload(pages)

    def reload(self, pages: Pages) -> None:
        """
        Answer with C{pages} from now on: new bodies, new validators, and
        no response made from the old ones.
        """
        self._bodies = {HELLO_PAGE: pages.hello, NOT_FOUND_PAGE: pages.notFound}
        self._validators = Validators(
            pages.hello, pages.helloModified, self._cacheControl
        )
        # The responses made with the Date value of the current second.
        self._responses: dict[Route, Response] = {}
        self._responsesDate = b""

    def respond(self, route: Route) -> Answer:
        if route.delayed:
            return deferLater(self._clock, self._delay, self._fromMemory, route)
        # The keep-alive path, kept flat: this second's response, if made.
        if self._date.at(self._clock.seconds()) is self._responsesDate:
            response = self._responses.get(route)
            if response is not None:
                return response
        return self._fromMemory(route)

    def _fromMemory(self, route: Route) -> Response:
        """
        This second's response for C{route}, made if it is not made yet.
        """
        date = self._date.at(self._clock.seconds())
        if date is not self._responsesDate:
            self._responses = {}  # a new Date: new responses
            self._responsesDate = date
        response = self._responses.get(route)
        if response is None:
            name = route.pageName
            body = self._bodies[name] if name is not None else b""
            response = self._responses[route] = render(
                route, body, date, self._cacheControl, self._validators
            )
        return response


class ParallelResponder:
    """
    Runs each request's work in a thread pool: the work reads the page from
    disk (an edited page is served without a restart), blocks its worker for
    the delay of C{/sleep}, and builds the response bytes.  Only the result
    crosses back to the reactor thread.
    """

    mode = "parallel"

    def __init__(
        self,
        pages: Pages,
        delay: float,
        reactor: IReactorFromThreads,
        pool: ThreadPool,
        cacheControl: bytes = DEFAULT_CACHE_CONTROL,
    ) -> None:
        self._directory = pages.directory
        self._cacheControl = cacheControl
        self._delay = delay
        self._reactor = reactor
        self._pool = pool

    def reload(self, pages: Pages) -> None:
        """
        Nothing to do: every request reads its page from disk.
        """

    def respond(self, route: Route) -> Answer:
        abandoned = threading.Event()
        work = deferToThreadPool(
            self._reactor,
            self._pool,
            blockingWork,
            route,
            self._directory,
            self._delay,
            abandoned,
            self._cacheControl,
        )
        # Cancelling the answer (the client left) tells the work to stop:
        # queued work is skipped, a sleeping worker wakes and is free again.
        answer: Deferred[Response] = Deferred(lambda _: abandoned.set())
        work.addBoth(_deliver, answer)
        return answer


def _deliver(result: object, answer: Deferred[Response]) -> None:
    """
    Pass the work's result on, unless the answer was cancelled meanwhile:
    then the late result (or failure) is dropped quietly.
    """
    if not answer.called:
        if isinstance(result, Failure):
            answer.errback(result)
        else:
            answer.callback(result)  # type: ignore[arg-type]


def blockingWork(
    route: Route,
    directory: Path,
    delay: float,
    abandoned: threading.Event,
    cacheControl: bytes = DEFAULT_CACHE_CONTROL,
) -> Response | None:
    """
    The request's work as plain blocking code, as a worker thread runs it.

    The delay blocks the worker like C{time.sleep}, but ends early when the
    request is C{abandoned}, so a client that leaves does not keep a worker
    busy for nothing.  Work abandoned before it starts is skipped.

    @return: the response, or C{None} for abandoned work (nobody reads it).
    """
    if route.delayed:
        abandoned.wait(delay)
    if abandoned.is_set():
        return None
    name = route.pageName
    if name is None:
        return render(route, b"", httpDate(time.time()), cacheControl)
    body, modified = readPageAndTime(directory, name)
    # The validators come from the bytes just read: an edited page gets a
    # new ETag with its first answer.
    validators = Validators(body, modified, cacheControl) if route.validated else None
    return render(route, body, httpDate(time.time()), cacheControl, validators)
