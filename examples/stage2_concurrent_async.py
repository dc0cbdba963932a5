"""
Stage 2 again, in the coroutine form of stage 1: the same
C{handleConnection}, and a loop that no longer awaits it.  Each connection
taken from C{incoming()} is handled as a task of its own
(C{Deferred.fromCoroutine} starts it and returns at once), and the loop
goes back for the next: the book's C{for_each_concurrent}.  A
C{DeferredSemaphore} of C{--limit} tokens is its limit: the loop takes a
token before it takes a connection, and a task gives its token back when
its connection is done, so at the limit the loop waits and new clients
wait in the listen backlog.

    python examples/stage2_concurrent_async.py --port 7878 --sleep 5 --limit 100
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from lesson import Connection, Incoming, announce, options
from stage1_serial import handleConnection
from twisted.internet.defer import Deferred, DeferredSemaphore
from twisted.internet.task import react

Handler = Callable[[Connection], Coroutine[Any, Any, None]]


async def serve(incoming: Incoming, limit: int, handle: Handler) -> None:
    """
    Start C{handle} on each connection as it comes, at most C{limit} at
    once.
    """
    places = DeferredSemaphore(limit)
    while True:
        await places.acquire()  # at the limit, wait for a place to free
        connection = await incoming.next()
        handling = Deferred.fromCoroutine(handle(connection))  # started, not awaited
        handling.addBoth(lambda _: places.release())


def main(reactor: Any, port: int, sleep: float, limit: int) -> Deferred[None]:
    incoming = Incoming.listen(reactor, port)
    announce(incoming.port, f"at most {limit} at once")

    def handle(connection: Connection) -> Coroutine[Any, Any, None]:
        return handleConnection(reactor, connection, sleep)

    return Deferred.fromCoroutine(serve(incoming, limit, handle))


if __name__ == "__main__":
    arguments = options(__doc__.split("\n\n")[0], limit=100)
    react(main, (arguments.port, arguments.sleep, arguments.limit))
