"""
The keep-alive request path alone, without sockets or a reactor: how long
hello's own code takes per request, for profiling and for before/after
comparisons of an optimisation.

    .venv/bin/python benchmarks/hotpath.py                 # microseconds per request
    .venv/bin/python benchmarks/hotpath.py --profile       # where they go (cProfile)

Wall-clock figures on a shared machine wander by 10% or more.  Instruction
counts do not: C{--callgrind} runs the same path under callgrind at two
sizes (5,000 and 25,000 requests) and prints the difference per request,
which leaves out start-up:

    .venv/bin/python benchmarks/hotpath.py --callgrind     # instructions per request

C{--connections} runs whole one-request connections through the protocol
on fake transports; C{--sockets} runs them for real, on loopback sockets
accepted by the reactor (hello's, or C{--reactor epoll}), so that Twisted's
own work per connection (accept, the transport, epoll, close) is counted
too, and the client's few calls with it (the same in every comparison).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hello_service.answers.answers import Answerer
from hello_service.answers.responders import ConcurrentResponder
from hello_service.connection.accesslog import AccessLog, LineWriter
from hello_service.connection.protocol import HelloFactory
from hello_service.http.pages import Pages

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\n\r\n"  # what wrk sends
CLOSING = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\nConnection: close\r\n\r\n"


class _Socket:
    """
    Takes every byte at once, as a socket with room in its buffer does.
    """

    def send(self, data: bytes, flags: int = 0) -> int:
        return len(data)


def helloFactory(clock: Any) -> HelloFactory:
    """
    The factory of C{twistd -n hello}'s defaults on C{clock}, its access log
    written as twistd writes it by default: whole lines, stamped as
    twistd's own, to standard output (here /dev/null).
    """
    pages = Pages(Path("."), b"<h1>Hello!</h1>\n" * 11, b"<h1>Oops!</h1>\n")
    accessLog = AccessLog(
        clock, LineWriter(descriptor=os.open(os.devnull, os.O_WRONLY), prefixed=True)
    )
    return HelloFactory(
        Answerer(ConcurrentResponder(pages, 5.0, clock), clock),
        clock,
        accessLog=accessLog,
    )


def connection() -> tuple[object, HelloFactory]:
    clock = Clock()
    clock.seconds = time.time  # type: ignore[method-assign]
    factory = helloFactory(clock)
    factory.directSocket = lambda transport: _Socket()  # type: ignore[method-assign]
    client = IPv4Address("TCP", "127.0.0.1", 40000)
    protocol = factory.buildProtocol(client)
    protocol.makeConnection(StringTransport(peerAddress=client))
    return protocol, factory


def runConnections(count: int) -> None:
    """
    C{count} whole connections of one request each, as C{wrk -H "Connection:
    close"} makes them: made, one request answered, closed, lost.  Twisted's
    own work for the socket (accept, the transport, close) is not in it.
    """
    _, factory = connection()
    client = IPv4Address("TCP", "127.0.0.1", 40000)
    for index in range(count):
        protocol = factory.buildProtocol(client)
        protocol.makeConnection(StringTransport(peerAddress=client))
        protocol.dataReceived(CLOSING)
        protocol.connectionLost(None)
        if index % 500 == 499:
            factory.accessLog.flush()
    factory.accessLog.flush()


#: The client of C{--sockets}, in a process of its own, so that only the
#: server is measured: C{count} one-request connections, 50 at a time.
_SOCKETS_CLIENT = r"""
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\nConnection: close\r\n\r\n"
done = 0
while done < count:
    batch = [socket.create_connection(("127.0.0.1", port)) for _ in range(min(50, count - done))]
    for client in batch:
        client.sendall(request)
    for client in batch:
        while client.recv(65536):
            pass
        client.close()
    done += len(batch)
"""


def runSockets(count: int, reactorName: str = "hello") -> None:
    """
    C{count} one-request connections on real loopback sockets, 50 at a
    time (as C{wrk -c50}), each accepted, answered and closed by the
    reactor; the client is another process, so that only the server's work
    is counted.
    """
    from hello_service.connection.reactor import installNamed

    if "twisted.internet.reactor" not in sys.modules:
        installNamed(reactorName)
    from twisted.internet import reactor

    clock: Any = reactor
    factory = helloFactory(clock)
    accessLog = factory.accessLog
    port = clock.listenTCP(0, factory, backlog=1024, interface="127.0.0.1")
    client = subprocess.Popen(
        [sys.executable, "-c", _SOCKETS_CLIENT, str(port.getHost().port), str(count)]
    )
    while client.poll() is None or factory.connections:
        clock.iterate(0.01)
        accessLog.flush()
    port.stopListening()
    clock.iterate(0)


def run(requests: int) -> None:
    protocol, factory = connection()
    receive = protocol.dataReceived  # type: ignore[attr-defined]
    for index in range(requests):
        receive(REQUEST)
        if index % 500 == 499:
            factory.accessLog.flush()  # the batches the 10 ms timer would make
    factory.accessLog.flush()


def _http2Client() -> tuple[bytes, bytes]:
    """
    What an h2load-like client sends: its preface, settings and a window
    opened wide (so that the server never waits for one), then the header
    block of one more C{GET /} once its HPACK table holds every field (the
    same bytes for every request after the first).
    """
    from h2.config import H2Configuration
    from h2.connection import H2Connection

    client = H2Connection(H2Configuration(client_side=True))
    client.initiate_connection()
    client.increment_flow_control_window(2**31 - 1 - 65_535)
    client.update_settings({0x4: 2**31 - 1})  # SETTINGS_INITIAL_WINDOW_SIZE
    headers = [
        (":method", "GET"),
        (":path", "/"),
        (":scheme", "http"),
        (":authority", "127.0.0.1:7878"),
        ("user-agent", "h2load nghttp2/1.52.0"),
    ]
    client.send_headers(1, headers, end_stream=True)
    opening = client.data_to_send()
    client.send_headers(3, headers, end_stream=True)
    block = client.data_to_send()[9:]
    return opening, block


def runHTTP2(requests: int, batch: int) -> None:
    """
    C{requests} C{GET /} over one HTTP/2 connection in cleartext, C{batch}
    of them in each read (as C{h2load -m BATCH} sends them), each answered
    whole.
    """
    import struct

    protocol, factory = connection()
    receive = protocol.dataReceived  # type: ignore[attr-defined]
    opening, block = _http2Client()
    receive(opening)
    head = struct.Struct(">HBBBL")  # length (24 bits), type, flags, stream
    streamId = 3
    for index in range(0, requests, batch):
        frames = []
        for _ in range(min(batch, requests - index)):
            # HEADERS, END_STREAM | END_HEADERS
            frames.append(head.pack(0, len(block), 0x1, 0x5, streamId) + block)
            streamId += 2
        receive(b"".join(frames))
        if index % 500 < batch:
            factory.accessLog.flush()
    factory.accessLog.flush()


def instructions(requests: int, extra: list[str]) -> int:
    """
    The instructions callgrind counts for a whole run of C{requests}.
    """
    result = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, __file__, "--requests", str(requests), "--quiet", *extra,
        ],
        capture_output=True, text=True, check=True,
        # The same hashes every run: dictionaries then do the same work.
        env=dict(os.environ, PYTHONHASHSEED="0"),
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", result.stderr)
    assert found, result.stderr
    return int(found.group(1))


#: Where C{--callgrind} keeps its last figure for each path, for the docs.
RESULTS = Path(__file__).resolve().parent / "results" / "hotpath.json"


def record(path: str, perUnit: int) -> None:
    """
    Keep the figure just measured for C{path} in L{RESULTS}, with the
    commit and date it was measured at: the docs quote it from there.
    """
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, cwd=RESULTS.parent,
    ).stdout.strip()  # fmt: skip
    figures = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    figures[path] = {
        "instructions": perUnit,
        # As the docs print it.
        "figure": f"{perUnit:,}",
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    RESULTS.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--connections",
        action="store_true",
        help="whole one-request connections instead of keep-alive requests",
    )
    parser.add_argument(
        "--sockets",
        action="store_true",
        help="whole one-request connections on real sockets, the reactor's "
        "transport included",
    )
    parser.add_argument(
        "--reactor", default="hello", help="with --sockets: hello's, or epoll"
    )
    parser.add_argument(
        "--http2",
        type=int,
        metavar="BATCH",
        help="HTTP/2 requests in cleartext over one connection, BATCH in "
        "each read (as h2load -m BATCH)",
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="instructions per request, under valgrind's callgrind",
    )
    arguments = parser.parse_args()
    extra = ["--connections"] if arguments.connections else []
    if arguments.sockets:
        extra = ["--sockets", "--reactor", arguments.reactor]
    if arguments.http2:
        extra = ["--http2", str(arguments.http2)]
    unit = "connection" if arguments.connections or arguments.sockets else "request"
    if arguments.callgrind:
        small, large = instructions(5_000, extra), instructions(25_000, extra)
        perUnit = round((large - small) / 20_000)
        print(f"{perUnit:,} instructions per {unit} (callgrind)")
        path = (
            "sockets"
            if arguments.sockets
            else "connections"
            if arguments.connections
            else "keep-alive"
        )
        if arguments.sockets and arguments.reactor != "hello":
            path += f" ({arguments.reactor})"
        if arguments.http2:
            path = f"http2-m{arguments.http2}"
        record(path, perUnit)
        return
    work = runConnections if arguments.connections else run
    if arguments.sockets:
        work = lambda count: runSockets(count, arguments.reactor)  # noqa: E731
    if arguments.http2:
        work = lambda count: runHTTP2(count, arguments.http2)  # noqa: E731
    if arguments.profile:
        profiler = cProfile.Profile()
        profiler.runcall(work, arguments.requests)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return
    best = float("inf")
    for _ in range(1 if arguments.quiet else 5):
        started = time.perf_counter()
        work(arguments.requests // (1 if arguments.quiet else 5))
        best = min(best, time.perf_counter() - started)
    if not arguments.quiet:
        print(f"{best / (arguments.requests // 5) * 1e6:.2f} us per {unit} (best of 5)")


if __name__ == "__main__":
    main()
