"""
Stage 1, serial: the async book's first async server ("Running
Asynchronous Code").  Its C{handle_connection} is an C{async fn} whose
C{/sleep} waits on a timer, so it never blocks; yet the server is still
serial, because its loop awaits each connection's handling before it takes
the next from C{incoming()}.

Here the same in Twisted's coroutine form: C{handleConnection} is an
C{async def} that awaits the request and a reactor timer (C{deferLater});
C{serve} awaits it for each connection in turn.  Four simultaneous C{/sleep}
are answered one delay apart (1, 2, 3 and 4 delays); a C{GET /} sent
meanwhile waits its turn behind them.  Unlike C{blocking_sleep.py}, the
reactor is free the whole time; only this loop waits.

C{stage2_concurrent.py --limit 1} behaves exactly the same: one connection
at a time is the concurrent stage with a limit of one.

    python examples/stage1_serial.py --port 7878 --sleep 5
"""

from __future__ import annotations

from typing import Any

from lesson import Connection, Incoming, announce, answer, options, route
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater, react


async def handleConnection(reactor: Any, connection: Connection, sleep: float) -> None:
    """
    One connection, start to end: read the request, wait if it is a
    C{/sleep}, answer.  Every wait is an C{await}: the reactor runs other
    events meanwhile.
    """
    request = await connection.read()
    status, page, slow = route(request)
    if slow:
        connection.record.begin()
        await deferLater(reactor, sleep)  # a timer, not a sleep
        connection.record.end()
    connection.reply(answer(status, page))


async def serve(reactor: Any, incoming: Incoming, sleep: float) -> None:
    """
    Take each connection from the stream in turn, and finish it before
    taking the next.
    """
    while True:
        connection = await incoming.next()
        await handleConnection(reactor, connection, sleep)


def main(reactor: Any, port: int, sleep: float) -> Deferred[None]:
    incoming = Incoming.listen(reactor, port)
    announce(incoming.port, "one connection at a time")
    return Deferred.fromCoroutine(serve(reactor, incoming, sleep))


if __name__ == "__main__":
    arguments = options(__doc__.split("\n\n")[0])
    react(main, (arguments.port, arguments.sleep))
