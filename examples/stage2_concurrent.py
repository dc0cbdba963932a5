"""
Stage 2, concurrent: the async book's "Handling Connections Concurrently",
where C{incoming()} becomes a stream handled with C{for_each_concurrent}.
Here in Twisted's own form, the one the service is built on: each
connection is a C{Protocol} made by a C{Factory}, and its methods run as
reactor events on one thread.  C{/sleep} waits on a reactor timer
(C{deferLater}), so the reactor serves everyone else meanwhile: N
simultaneous C{/sleep} take about one delay, and a C{GET /} is answered at
once.  (C{stage2_concurrent_async.py} is the same stage in the coroutine
form of stage 1.)

C{--limit N} is the book's C{for_each_concurrent(N)}: at N connections the
listening port stops accepting (C{stopReading}), so more clients wait in
the kernel's listen backlog, never refused, and it accepts again as
connections close.  Twisted accepts a batch per wake-up; one accepted past
the limit in the same batch is held unread until a place frees.  The
service's limit is C{hello_service/connection/limits.py}.  What stage 1 left out, this
leaves out too.

    python examples/stage2_concurrent.py --port 7878 --sleep 5 --limit 100
"""

from __future__ import annotations

from typing import Any

from lesson import Record, announce, answer, options, route
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.task import deferLater, react
from twisted.python.failure import Failure


class Concurrent(Protocol):
    transport: Any  # a TCP transport, once connected
    waiting: Deferred[None] | None = None

    def __init__(self, factory: ConcurrentFactory) -> None:
        self.factory = factory

    def connectionMade(self) -> None:
        self.record = Record()
        self.factory.opened(self.transport)

    def dataReceived(self, data: bytes) -> None:
        self.request = data
        status, page, slow = route(data)
        if not slow:
            return self.reply(answer(status, page))
        # A timer, not a sleep: the reactor serves everyone else meanwhile.
        self.record.begin()
        waiting = deferLater(
            self.factory.reactor, self.factory.sleep, answer, status, page
        )
        self.waiting = waiting.addCallbacks(
            self.reply, lambda f: f.trap(CancelledError)
        )

    def reply(self, response: bytes) -> None:
        self.record.end()
        self.transport.write(response)
        self.transport.loseConnection()
        self.record.answered(self.request)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.waiting is not None:
            self.waiting.cancel()  # the client left: its timer is dropped
        self.factory.closed(self.transport)


class ConcurrentFactory(Factory):
    def __init__(self, reactor: Any, sleep: float, limit: int) -> None:
        self.reactor, self.sleep, self.limit = reactor, sleep, limit
        self.port: Any = None  # the listening port
        self.open: list[Any] = []  # transports; the first `limit` are served

    def buildProtocol(self, addr: Any) -> Concurrent:
        return Concurrent(self)

    def opened(self, transport: Any) -> None:
        self.open.append(transport)
        if len(self.open) > self.limit:
            transport.pauseProducing()  # accepted in the same batch: held
        if len(self.open) >= self.limit:
            self.port.stopReading()  # the rest wait in the listen backlog

    def closed(self, transport: Any) -> None:
        served = self.open.index(transport) < self.limit
        self.open.remove(transport)
        if served and len(self.open) >= self.limit:
            self.open[self.limit - 1].resumeProducing()  # a held one's turn
        elif len(self.open) < self.limit and self.port.connected:
            self.port.startReading()


def main(reactor: Any, port: int, sleep: float, limit: int) -> Deferred[None]:
    factory = ConcurrentFactory(reactor, sleep, limit)
    factory.port = reactor.listenTCP(port, factory, 1024, "127.0.0.1")
    announce(factory.port, f"at most {limit} at once")
    return Deferred()  # serve until stopped


if __name__ == "__main__":
    arguments = options(__doc__.split("\n\n")[0], limit=100)
    react(main, (arguments.port, arguments.sleep, arguments.limit))
