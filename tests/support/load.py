"""
Steady, bounded load on a server of the tests: a few client threads, each
making one request per connection in a loop until told to stop (or until a
deadline or a request count is reached), counting answers and failures.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

REQUEST = b"GET / HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n"


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)


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
    ) -> None:
        self.port = port
        self.host = host
        self.result = LoadResult()
        self._interval = 1.0 / rate
        self._deadline = time.monotonic() + seconds
        self._limit = limit
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, daemon=True) for _ in range(clients)
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

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return self.result

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            with self._lock:
                if self.result.ok + self.result.failed >= self._limit:
                    return
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
            with self._lock:
                if problem:
                    self.result.failed += 1
                    self.result.failures.append(problem)
                else:
                    self.result.ok += 1
            self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))
