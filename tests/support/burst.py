"""
A burst of simultaneous requests, one per connection, timed until the last
answer: the measurement behind "N simultaneous /sleep requests finish in
about one delay".

It is a bare epoll loop over non-blocking sockets, so that opening thousands
of connections costs the client little and the server is what is measured.
Everything is bounded: a deadline ends the run, and every socket is closed.

    python tests/support/burst.py --port 7878 --path /sleep --count 5000
"""

from __future__ import annotations

import argparse
import errno
import json
import select
import socket
import time
from dataclasses import asdict, dataclass


@dataclass
class BurstResult:
    count: int
    ok: int
    failed: int
    seconds: float
    connectSeconds: float
    firstAnswer: float
    lastAnswer: float


def burst(
    host: str, port: int, path: str, count: int, deadline: float = 60.0
) -> BurstResult:
    """
    Open C{count} connections at once, send C{GET path} with
    C{Connection: close} on each, and wait until every one is answered and
    closed (or the deadline passes).
    """
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ).encode()
    poller = select.epoll()
    sockets: dict[int, socket.socket] = {}
    received: dict[int, list[bytes]] = {}
    sent: set[int] = set()
    answered: list[float] = []
    failed = 0
    started = time.monotonic()
    for _ in range(count):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = client.connect_ex((host, port))
        if code not in (0, errno.EINPROGRESS):
            failed += 1
            client.close()
            continue
        fd = client.fileno()
        sockets[fd] = client
        received[fd] = []
        poller.register(fd, select.EPOLLOUT | select.EPOLLIN)
    connected = time.monotonic()
    end = started + deadline
    while sockets and time.monotonic() < end:
        for fd, events in poller.poll(min(1.0, max(0.0, end - time.monotonic()))):
            client = sockets[fd]
            if events & select.EPOLLOUT and fd not in sent:
                try:
                    client.send(request)
                    sent.add(fd)
                    poller.modify(fd, select.EPOLLIN)
                except OSError:
                    failed += 1
                    _forget(poller, sockets, fd)
                continue
            if events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                try:
                    chunk = client.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                    received[fd] = []
                if chunk:
                    received[fd].append(chunk)
                    continue
                data = b"".join(received[fd])
                if data.startswith(b"HTTP/1.1 200 "):
                    answered.append(time.monotonic())
                else:
                    failed += 1
                _forget(poller, sockets, fd)
    failed += len(sockets)
    for fd in list(sockets):
        _forget(poller, sockets, fd)
    poller.close()
    return BurstResult(
        count=count,
        ok=len(answered),
        failed=failed,
        seconds=(max(answered) if answered else time.monotonic()) - started,
        connectSeconds=connected - started,
        firstAnswer=(min(answered) - started) if answered else 0.0,
        lastAnswer=(max(answered) - started) if answered else 0.0,
    )


def _forget(poller: select.epoll, sockets: dict[int, socket.socket], fd: int) -> None:
    poller.unregister(fd)
    sockets.pop(fd).close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7878)
    parser.add_argument("--path", default="/sleep")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--deadline", type=float, default=60.0)
    arguments = parser.parse_args()
    if arguments.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("this load generator only targets the loopback interface")
    result = burst(
        arguments.host,
        arguments.port,
        arguments.path,
        arguments.count,
        arguments.deadline,
    )
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
