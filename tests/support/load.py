"""
Steady, bounded load on a server of the tests: a few client threads, each
making requests in a loop until told to stop (or until a deadline or a
request count is reached), counting answers and failures.  A client makes
one request per connection, or (C{keepAlive}) reuses its connection as a
browser or a proxy does, opening a new one only after an answer that said
C{Connection: close}; it never retries a request.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from .waiting import until

REQUEST = b"GET / HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n"
KEEP_ALIVE_REQUEST = b"GET / HTTP/1.1\r\nHost: load\r\n\r\n"


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    #: With C{keepAlive}: each answer's time (C{time.monotonic}) and whether
    #: it said C{Connection: close}.
    answers: list[tuple[float, bool]] = field(default_factory=list)


def readAnswer(client: socket.socket, buffered: bytes) -> tuple[bytes, bytes, bytes]:
    """
    One whole response from C{client} (framed by its Content-Length): its
    head, its body, and what came after it.

    @raise ConnectionError: if the connection ends before the answer does.
    """
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed without a whole answer ({len(data)} bytes)")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = client.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the middle of a body")
        rest += chunk
    return head, rest[:length], rest[length:]


class SteadyLoad:
    """
    C{clients} threads requesting C{GET /} on 127.0.0.1:C{port}, one request
    per connection, each at most C{rate} requests a second, for at most
    C{seconds} and C{limit} requests in all.
    """

    def __init__(
        self,
        port: int,
        clients: int = 4,
        host: str = "127.0.0.1",
        rate: float = 100.0,
        seconds: float = 60.0,
        limit: int = 50_000,
        keepAlive: bool = False,
    ) -> None:
        self.port = port
        self.host = host
        self.result = LoadResult()
        self._interval = 1.0 / rate
        self._deadline = time.monotonic() + seconds
        self._limit = limit
        self._stop = threading.Event()
        self._lock = threading.Lock()
        target = self._runKeepAlive if keepAlive else self._run
        self._threads = [
            threading.Thread(target=target, daemon=True) for _ in range(clients)
        ]

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def counts(self) -> tuple[int, int]:
        """
        The answers and failures so far.
        """
        with self._lock:
            return self.result.ok, self.result.failed

    def answered(self, more: int, seconds: float = 30.0) -> None:
        """
        Wait until the load has had C{more} good answers beyond those so
        far: the load was on around a moment of the test, however fast the
        machine is today (a fixed sleep hopes so).
        """
        target = self.counts()[0] + more
        until(
            lambda: self.counts()[0] >= target,
            seconds,
            f"{more} more good answers under load (counts: {self.counts()})",
        )

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return self.result

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            started = time.monotonic()
            try:
                with socket.create_connection((self.host, self.port), 5) as client:
                    client.sendall(REQUEST)
                    answer = b""
                    while chunk := client.recv(65536):
                        answer += chunk
                good = answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(
                    b"</html>\n"
                )
                problem = "" if good else f"bad answer {answer[:60]!r}"
            except OSError as error:
                problem = f"{type(error).__name__}: {error}"
            if not self._count(problem):
                return
            self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))

    def _count(self, problem: str, closing: bool = False) -> bool:
        """
        Count one request; whether to go on.
        """
        with self._lock:
            if problem:
                self.result.failed += 1
                self.result.failures.append(problem)
            else:
                self.result.ok += 1
                self.result.answers.append((time.monotonic(), closing))
            return self.result.ok + self.result.failed < self._limit

    def _runKeepAlive(self) -> None:
        client: socket.socket | None = None
        buffered = b""
        try:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                started = time.monotonic()
                closing = False
                try:
                    if client is None:
                        client = socket.create_connection((self.host, self.port), 5)
                        buffered = b""
                    client.sendall(KEEP_ALIVE_REQUEST)
                    head, body, buffered = readAnswer(client, buffered)
                    closing = b"\r\nconnection: close" in head.lower()
                    good = head.startswith(b"HTTP/1.1 200 OK") and body.endswith(
                        b"</html>\n"
                    )
                    problem = "" if good else f"bad answer {head[:60]!r}"
                except OSError as error:
                    problem = f"{type(error).__name__}: {error}"
                    closing = True
                if closing and client is not None:
                    client.close()
                    client = None
                if not self._count(problem, closing and not problem):
                    return
                self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))
        finally:
            if client is not None:
                client.close()
