"""
The keep-alive request path alone, without sockets or a reactor: how long
hello's own code takes per request, for profiling and for before/after
comparisons of an optimisation.

    .venv/bin/python benchmarks/hotpath.py                 # microseconds per request
    .venv/bin/python benchmarks/hotpath.py --profile       # where they go (cProfile)

Wall-clock figures on a shared machine wander by 10% or more.  Instruction
counts do not: run the same path under callgrind at two sizes and take the
difference per request, which leaves out start-up:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python benchmarks/hotpath.py --requests 5000 --quiet
    (again with --requests 25000; instructions per request =
     difference of the "Collected" totals / 20000)
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hello_service.pages import Pages
from hello_service.protocol import HelloFactory
from hello_service.responders import ConcurrentResponder

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\n\r\n"  # what wrk sends


class _Socket:
    """
    Takes every byte at once, as a socket with room in its buffer does.
    """

    def send(self, data: bytes) -> int:
        return len(data)


def connection() -> tuple[object, HelloFactory]:
    clock = Clock()
    clock.seconds = time.time  # type: ignore[method-assign]
    pages = Pages(Path("."), b"<h1>Hello!</h1>\n" * 11, b"<h1>Oops!</h1>\n")
    factory = HelloFactory(ConcurrentResponder(pages, 5.0, clock), clock)
    client = IPv4Address("TCP", "127.0.0.1", 40000)
    protocol = factory.buildProtocol(client)
    protocol.makeConnection(StringTransport(peerAddress=client))
    protocol._socket = _Socket()  # type: ignore[assignment]
    return protocol, factory


def run(requests: int) -> None:
    protocol, factory = connection()
    receive = protocol.dataReceived  # type: ignore[attr-defined]
    for index in range(requests):
        receive(REQUEST)
        if index % 500 == 499:
            factory.accessLog.flush()  # the batches the 10 ms timer would make
    factory.accessLog.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    arguments = parser.parse_args()
    if arguments.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run, arguments.requests)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        run(arguments.requests // 5)
        best = min(best, time.perf_counter() - started)
    if not arguments.quiet:
        print(
            f"{best / (arguments.requests // 5) * 1e6:.2f} us per request (best of 5)"
        )


if __name__ == "__main__":
    main()
