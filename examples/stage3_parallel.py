"""
Stage 3, parallel: a blocking call off the reactor, as the book's
C{spawn_blocking} takes one off its executor.  Each request's work (route,
sleep, build the answer) runs in the reactor's thread pool
through C{deferToThread}; the answer is written back on the reactor thread,
when the C{Deferred} fires.  That hand-back matters: Twisted's transports
are not thread-safe, so a worker thread never touches one.

With T threads (C{--threads T}), N simultaneous C{/sleep} finish in waves:
about ceil(N / T) delays.  The reactor is never blocked: while every
thread sleeps it still accepts connections and reads their requests, and
only their work waits, queued for a free thread.  So a C{GET /} sent then
waits too, for the first thread to free, though its own work is instant.

The service does the same on a pool of its own (C{deferToThreadPool},
C{hello_service/responders.py}), not the reactor's: sized by C{--threads},
started and stopped with the service, and not shared with Twisted's host
name resolution, which this pool also runs.  What stage 1 left out, this
leaves out too.

    python examples/stage3_parallel.py --port 7878 --sleep 5 --threads 2
"""

from __future__ import annotations

import time
from typing import Any

from lesson import announce, answer, options, route
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import react
from twisted.internet.threads import deferToThread


def work(data: bytes, sleep: float) -> bytes:
    """
    A request's work, in a worker thread: blocking is allowed here.
    """
    status, page, slow = route(data)
    if slow:
        time.sleep(sleep)
    return answer(status, page)


class Parallel(Protocol):
    transport: Any  # a TCP transport, once connected

    def __init__(self, sleep: float) -> None:
        self.sleep = sleep

    def dataReceived(self, data: bytes) -> None:
        print(f"{time.monotonic():.3f} read {data.split(b' ')[1]!r}", flush=True)
        answered = deferToThread(work, data, self.sleep)
        answered.addCallback(self.transport.write)  # on the reactor thread
        answered.addCallback(lambda _: self.transport.loseConnection())


class ParallelFactory(Factory):
    def __init__(self, sleep: float) -> None:
        self.sleep = sleep

    def buildProtocol(self, addr: Any) -> Parallel:
        return Parallel(self.sleep)


def main(reactor: Any, port: int, sleep: float, threads: int) -> Deferred[None]:
    reactor.suggestThreadPoolSize(threads)
    listening = reactor.listenTCP(port, ParallelFactory(sleep), 1024, "127.0.0.1")
    announce(listening, f"work on {threads} threads")
    return Deferred()  # serve until stopped


if __name__ == "__main__":
    arguments = options(__doc__.split("\n\n")[0], threads=10)
    react(main, (arguments.port, arguments.sleep, arguments.threads))
