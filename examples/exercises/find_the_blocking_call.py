"""
Exercise: find the blocking call.  This server is stage 2 with one change,
made to let a C{/sleep} wait politely before it answers.  It looks
concurrent, yet four simultaneous C{/sleep} take four delays, and a C{GET /}
sent meanwhile waits for all of them.  Find the call that blocks the
reactor, and make C{/sleep} wait without blocking it.

Two ways to look: read every call C{dataReceived} makes, or, while four
C{/sleep} wait, ask the process where its one thread is (C{py-spy dump
--pid PID}, from PyPI).  The reference solution is
C{examples/solutions/find_the_blocking_call.py}.

    python examples/exercises/find_the_blocking_call.py --port 7878 --sleep 5
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # lesson.py

from lesson import announce, answer, options, route  # noqa: E402
from stage2_concurrent import Concurrent, ConcurrentFactory  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402
from twisted.internet.task import react  # noqa: E402


class Polite(Concurrent):
    def dataReceived(self, data: bytes) -> None:
        self.request = data
        status, page, slow = route(data)
        if slow:
            pause(self.factory.sleep)
        self.reply(answer(status, page))


_interrupted = threading.Event()


def pause(seconds: float) -> None:
    """
    Wait C{seconds}, or less if the pause is interrupted.
    """
    _interrupted.wait(seconds)


class PoliteFactory(ConcurrentFactory):
    def buildProtocol(self, addr: Any) -> Polite:
        return Polite(self)


def main(reactor: Any, port: int, sleep: float) -> Deferred[None]:
    factory = PoliteFactory(reactor, sleep, 100)
    factory.port = reactor.listenTCP(port, factory, 1024, "127.0.0.1")
    announce(factory.port, "politely")
    return Deferred()  # serve until stopped


if __name__ == "__main__":
    arguments = options(__doc__.split("\n\n")[0])
    react(main, (arguments.port, arguments.sleep))
