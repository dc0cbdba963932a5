"""
Stage 3, concurrent and parallel: the async book's "Serving Requests in
Parallel", where each connection is C{spawn}ed onto a multi-threaded
executor, so that handlings run at the same instant on several cores.
Concurrency (many requests in progress at once) is stage 2's; parallelism
(many running at the same instant) needs work that uses a CPU, so this
stage adds C{GET /work}: about C{--work} seconds of CPU.

In CPython one thread runs Python at a time (the GIL), so the book's
executor has no one-to-one match.  Run it four ways:

  - on one reactor (the default): C{/work} runs in the reactor thread, so
    four take four times as long, and a C{GET /} waits behind them;
  - C{--threads 2}: each C{/work} runs in a thread of the reactor's pool
    (C{deferToThread}, the book's C{spawn_blocking}).  The reactor is free,
    so C{GET /} is answered at once; but the work is pure Python, and the
    two threads take turns holding the GIL: four still take four times as
    long;
  - C{--threads 2 --gil-free}: work that lets go of the GIL (hashing, in C)
    runs in both threads at the same instant: four take twice as long;
  - C{--processes 2}: two reactors, each a process of its own with its own
    listening socket on the same port (C{SO_REUSEPORT}: the kernel spreads
    new connections between them, as the service's C{--workers} does).
    Each runs its own Python on its own core: the nearest thing to the
    book's C{spawn}.

    python examples/stage3_parallel.py --port 7878 --work 0.5 --processes 2
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from argparse import Namespace
from collections.abc import Coroutine
from typing import Any

from lesson import (
    Connection,
    Incoming,
    Record,
    announce,
    answer,
    options,
    route,
    work,
    workWithoutTheGIL,
)
from stage2_concurrent_async import serve
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater, react
from twisted.internet.threads import deferToThread


def doWork(record: Record, arguments: Namespace) -> None:
    """
    A C{/work} request's CPU work, in whichever thread runs it.
    """
    record.begin()
    (workWithoutTheGIL if arguments.gil_free else work)(arguments.work)
    record.end()


async def handleConnection(
    reactor: Any, connection: Connection, arguments: Namespace
) -> None:
    request = await connection.read()
    status, page, slow = route(request, (b"/sleep", b"/work"))
    if slow == b"/sleep":
        connection.record.begin()
        await deferLater(reactor, arguments.sleep)
        connection.record.end()
    elif slow == b"/work" and arguments.threads:
        await deferToThread(doWork, connection.record, arguments)  # spawn_blocking
    elif slow == b"/work":
        doWork(connection.record, arguments)  # on the reactor: everyone waits
    connection.reply(answer(status, page))


def main(reactor: Any, arguments: Namespace) -> Deferred[None]:
    descriptor = None if arguments.descriptor < 0 else arguments.descriptor
    incoming = Incoming.listen(reactor, arguments.port, descriptor)
    if arguments.threads:
        reactor.suggestThreadPoolSize(arguments.threads)
    where = f"{arguments.threads} threads" if arguments.threads else "the reactor"
    gil = ", without the GIL" if arguments.gil_free else ""
    process = "" if descriptor is None else f", in process {os.getpid()}"
    announce(incoming.port, f"work on {where}{gil}{process}")

    def handle(connection: Connection) -> Coroutine[Any, Any, None]:
        return handleConnection(reactor, connection, arguments)

    return Deferred.fromCoroutine(serve(incoming, arguments.limit, handle))


def runProcesses(arguments: Namespace) -> None:
    """
    C{--processes N}: open N listening sockets on one port, each with
    C{SO_REUSEPORT}, start a process with a reactor of its own on each, and
    pass C{SIGTERM} and C{SIGINT} on to them.  Each says when it serves.
    """
    listening, port = [], arguments.port
    for _ in range(arguments.processes):
        shared = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        shared.bind(("127.0.0.1", port))
        shared.listen(1024)
        shared.setblocking(False)  # as a reactor needs it
        port = shared.getsockname()[1]  # --port 0: the others take the same
        listening.append(shared)
    children = [
        subprocess.Popen(
            [sys.executable, __file__, *sys.argv[1:], "--descriptor", str(s.fileno())],
            pass_fds=[s.fileno()],
        )
        for s in listening
    ]
    for shared in listening:
        shared.close()  # each child holds its own

    def passOn(number: int, frame: Any) -> None:
        for child in children:
            child.send_signal(number)

    signal.signal(signal.SIGTERM, passOn)
    signal.signal(signal.SIGINT, passOn)
    for child in children:
        child.wait()


if __name__ == "__main__":
    arguments = options(
        __doc__.split("\n\n")[0],
        "gil-free",
        threads=0,
        processes=1,
        limit=100,
        descriptor=-1,
    )
    if arguments.processes > 1 and arguments.descriptor < 0:
        runProcesses(arguments)
    else:
        react(main, (arguments,))
