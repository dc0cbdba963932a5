"""
An HTTP/3 load generator, for want of one in Debian (its curl and h2load
have no HTTP/3): C{connections} QUIC connections, each keeping C{streams}
requests for C{GET /} in flight, for C{seconds}; on aioquic, the client of
the tests (L{tests.support.http3client}).  It prints one JSON line: the
answers that came back whole and 200, the others, the seconds it ran.

    python -m benchmarks.h3load --port 8443 --connections 10 --streams 10 --seconds 3

The same client and the same load for every server measured, so requests
per server CPU-second compare the servers; requests per second may be the
client's own limit (it is Python too), and say so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

if not __package__:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.http3client import requestFields, session


async def _connection(
    port: int, streams: int, until: float, counts: dict[str, int]
) -> None:
    fields = requestFields()
    async with await session(port) as client:

        async def loop() -> None:
            while time.monotonic() < until:
                answer = await client.waiters[client.send(fields)]
                if answer.status == 200 and answer.ended:
                    counts["ok"] += 1
                else:
                    counts["failed"] += 1

        await asyncio.gather(*(loop() for _ in range(streams)))


async def load(
    port: int, connections: int, streams: int, seconds: float
) -> dict[str, float]:
    counts = {"ok": 0, "failed": 0}
    start = time.monotonic()
    until = start + seconds
    await asyncio.wait_for(
        asyncio.gather(
            *(_connection(port, streams, until, counts) for _ in range(connections)),
            return_exceptions=True,
        ),
        seconds + 30,
    )
    return {**counts, "seconds": time.monotonic() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    arguments = parser.parse_args()
    print(json.dumps(asyncio.run(load(
        arguments.port, arguments.connections, arguments.streams, arguments.seconds
    ))))  # fmt: skip


if __name__ == "__main__":
    main()
