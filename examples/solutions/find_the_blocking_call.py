"""
Exercise 4's solution: C{threading.Event.wait} blocks the thread that calls
it, and here that is the reactor's one thread.  (C{py-spy dump} shows it
there: C{dataReceived}, then C{pause}, then C{wait}.)  A reactor timer waits
without blocking: C{deferLater} returns at once and calls back after the
delay, so four C{/sleep} take one delay, and a C{GET /} is answered at once.
A client that leaves meanwhile has its wait cancelled by stage 2's
C{connectionLost}.

    python examples/solutions/find_the_blocking_call.py --port 7878 --sleep 5
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # lesson.py

from lesson import announce, answer, options, route  # noqa: E402
from stage2_concurrent import Concurrent, ConcurrentFactory  # noqa: E402
from twisted.internet.defer import CancelledError, Deferred  # noqa: E402
from twisted.internet.task import deferLater, react  # noqa: E402


class Polite(Concurrent):
    def dataReceived(self, data: bytes) -> None:
        self.request = data
        status, page, slow = route(data)
        if not slow:
            return self.reply(answer(status, page))
        waiting: Deferred[None] = deferLater(self.factory.reactor, self.factory.sleep)
        waiting.addCallback(lambda _: self.reply(answer(status, page)))
        self.waiting = waiting.addErrback(lambda f: f.trap(CancelledError))


class PoliteFactory(ConcurrentFactory):
    def buildProtocol(self, addr: Any) -> Polite:
        return Polite(self)


def main(reactor: Any, port: int, sleep: float) -> Deferred[None]:
    factory = PoliteFactory(reactor, sleep, 100)
    factory.port = reactor.listenTCP(port, factory, 1024, "127.0.0.1")
    announce(factory.port, "politely, on a timer")
    return Deferred()  # serve until stopped


if __name__ == "__main__":
    arguments = options(__doc__.split("\n\n")[0])
    react(main, (arguments.port, arguments.sleep))
