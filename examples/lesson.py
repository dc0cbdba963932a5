"""
What the stages share, so that each shows only its own step: the service's
own pages, the route of a request line, the bytes of an answer, the two
kinds of slow work (a delay and CPU work), the listening port as a stream
of connections, the command line, and the record of each request's times
that the tutorial's pictures are drawn from.

(The service's versions of the first three are C{hello_service/http/pages.py},
C{routes.py} and C{responses.py}.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import threading
import time
from collections import deque
from pathlib import Path
from socket import AF_INET
from typing import IO, Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

PAGES = Path(__file__).resolve().parent.parent / "hello_service" / "http" / "pages"
HELLO = (PAGES / "hello.html").read_bytes()
NOT_FOUND = (PAGES / "404.html").read_bytes()


def route(received: bytes, slow: tuple[bytes, ...] = (b"/sleep",)) -> tuple[
    bytes, bytes, bytes
]:  # fmt: skip
    """
    The status, the page and the slow part of a request (one of C{slow}, or
    C{b""} for none), from the first bytes of a request: only its request
    line counts, as in the book.  Stages 1 and 2 know only C{/sleep};
    stage 3 adds C{/work}.
    """
    method, _, rest = received.partition(b" ")
    path = rest.partition(b" ")[0].partition(b"?")[0]
    if method == b"GET" and (path == b"/" or path in slow):
        return b"200 OK", HELLO, b"" if path == b"/" else path
    return b"404 NOT FOUND", NOT_FOUND, b""


def answer(status: bytes, page: bytes) -> bytes:
    """
    A whole HTTP/1.1 answer, after which the connection is closed.
    """
    head = b"HTTP/1.1 %s\r\nContent-Type: text/html; charset=utf-8\r\n" % status
    return head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(page) + page


def work(seconds: float) -> None:
    """
    About C{seconds} of CPU work in pure Python.  The thread holds the GIL
    while it runs, so two threads doing this take turns: together they need
    twice as long as one.  (Measured as this thread's own CPU time, so a
    thread waiting for the GIL does not count as working.)
    """
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        sum(number * number for number in range(2000))


_BUFFER = bytes(1 << 20)


def workWithoutTheGIL(seconds: float) -> None:
    """
    About C{seconds} of CPU work in C code that lets go of the GIL while it
    runs: C{hashlib} hashing a 1 MiB buffer again and again.  Two threads
    doing this run at the same time, on two cores.
    """
    digest = hashlib.sha256()
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        digest.update(_BUFFER)


class Record:
    """
    When one request was accepted, began its slow part, ended it and had
    its answer written, and on which thread of which process it ran: the
    times the tutorial's pictures are drawn from, one JSON line per request
    in the file of C{--record FILE}.  Without C{--record} nothing is kept.

    The clock is C{time.monotonic}, which every process of the machine
    shares, so a client's times and each server process's can be compared.
    """

    file: IO[str] | None = None

    def __init__(self) -> None:
        self.accepted = time.monotonic()
        self.began: float | None = None
        self.ended: float | None = None
        self.thread = threading.current_thread().name

    def begin(self) -> None:
        self.began = time.monotonic()
        self.thread = threading.current_thread().name

    def end(self) -> None:
        if self.began is not None:  # a request with no slow part has no end
            self.ended = time.monotonic()

    def answered(self, request: bytes) -> None:
        if Record.file is None:
            return
        target = request.partition(b" ")[2].partition(b" ")[0]
        line = {
            "request": target.decode("ascii", "replace"),
            "accepted": self.accepted,
            "began": self.began,
            "ended": self.ended,
            "answered": time.monotonic(),
            "process": os.getpid(),
            "thread": self.thread,
        }
        Record.file.write(json.dumps(line) + "\n")
        Record.file.flush()  # one write of one line, whole, even from threads


class Connection(Protocol):
    """
    One accepted connection as the C{async def} stages use it, like the
    book's C{TcpStream}: C{await} its request, then write its answer (after
    which it closes).
    """

    transport: Any  # a TCP transport, once connected

    def __init__(self, incoming: Incoming) -> None:
        self.incoming = incoming
        self.received: Deferred[bytes] = Deferred()
        self.request = b""
        self.record = Record()

    def connectionMade(self) -> None:
        self.incoming.arrived(self)

    def dataReceived(self, data: bytes) -> None:
        if not self.received.called:
            self.request = data
            self.received.callback(data)

    def read(self) -> Deferred[bytes]:
        """
        The first bytes the client sent (C{b""} if it left before sending
        any: its answer then goes nowhere).
        """
        return self.received

    def reply(self, response: bytes) -> None:
        self.transport.write(response)
        self.transport.loseConnection()
        self.record.answered(self.request)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.received.called:
            self.received.callback(b"")


class Incoming(Factory):
    """
    A listening port as a stream of connections, the book's C{incoming()}:
    C{next()} gives the next one.  The port accepts only while someone waits
    for a connection, so the others wait in the kernel's listen backlog
    until asked for, as the book's do.  (Twisted accepts a batch per
    wake-up; one accepted past the first in the same batch is held unread
    until asked for.)
    """

    def __init__(self) -> None:
        self.port: Any = None  # the listening port
        self.waiting: Deferred[Connection] | None = None
        self.held: deque[Connection] = deque()

    @classmethod
    def listen(cls, reactor: Any, port: int, descriptor: int | None = None) -> Incoming:
        """
        Listen on 127.0.0.1:C{port}, or on the listening socket already
        open as C{descriptor} (stage 3's C{--processes}).
        """
        incoming = cls()
        if descriptor is None:
            incoming.port = reactor.listenTCP(port, incoming, 1024, "127.0.0.1")
        else:
            incoming.port = reactor.adoptStreamPort(descriptor, AF_INET, incoming)
        incoming.port.stopReading()  # until someone asks for a connection
        return incoming

    def buildProtocol(self, addr: Any) -> Connection:
        return Connection(self)

    def next(self) -> Deferred[Connection]:
        if self.held:
            connection = self.held.popleft()
            connection.transport.resumeProducing()
            return succeed(connection)
        self.waiting = Deferred()
        self.port.startReading()
        return self.waiting

    def arrived(self, connection: Connection) -> None:
        if self.waiting is None:
            connection.transport.pauseProducing()  # same batch: held unread
            self.held.append(connection)
            return
        waiting, self.waiting = self.waiting, None
        self.port.stopReading()
        waiting.callback(connection)


def options(
    description: str, *switches: str, **counts: int
) -> argparse.Namespace:  # fmt: skip
    """
    C{--port PORT --sleep SECONDS --work SECONDS --record FILE}, a C{--NAME}
    switch for each of C{switches}, and a C{--NAME N} for each of C{counts}
    (C{threads=0}: C{--threads N}, 0 by default).  C{--record} opens the
    file each L{Record} is appended to.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=7878)
    parser.add_argument("--sleep", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument("--work", type=float, default=0.5, metavar="SECONDS")
    parser.add_argument("--record", type=Path, metavar="FILE")
    for name in switches:
        parser.add_argument(f"--{name}", action="store_true")
    for name, default in counts.items():
        parser.add_argument(f"--{name}", type=int, default=default, metavar="N")
    arguments = parser.parse_args()
    if arguments.record is not None:
        Record.file = arguments.record.open("a", encoding="utf-8")
    return arguments


def announce(listening: Any, how: str) -> None:
    """
    Say where the stage serves, and how (the tests wait for this line).
    """
    print(f"serving on tcp:127.0.0.1:{listening.getHost().port}, {how}", flush=True)
