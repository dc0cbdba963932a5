"""
One connection under packet loss, for the lesson's last figure
(C{benchmarks.loss}) and the test of its claim
(C{tests.system.test_http3.LossTests}): a network namespace whose input
drops a share of packets (L{LossyNamespace}: this kernel has no netem;
nftables' C{numgen random} on an input-hook chain does it, on loopback
both ways), pages with a large hello page (L{largePage}), and the client,
run inside the namespace:

    python -m tests.support.lossy --h2-port 8080 --h3-port 8443 --runs 20

Over HTTP/2 (prior knowledge, cleartext TCP) and HTTP/3 (QUIC), run after
run, it opens the connection, warms it with one request, then sends C{GET /} (the large
page) and ten C{GET /nothing} (the small 404 page) at once; it prints one
JSON line: by protocol, for each run, each stream's path and when its
answer ended, in seconds from the moment the eleven were sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

PATHS = [b"/"] + [b"/nothing"] * 10
CHECKOUT = Path(__file__).resolve().parents[2]
PAGES = CHECKOUT / "hello_service" / "http" / "pages"


def missing() -> str | None:
    """Why this machine cannot make a lossy namespace, or C{None}."""
    if os.geteuid() != 0:
        return "needs root, to make a network namespace"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"no {tool} (Debian: {package})"
    return None


def largePage(folder: Path, size: int) -> Path:
    """Pages whose hello page is C{size} bytes; the 404 page as shipped."""
    pages = folder / "pages"
    pages.mkdir()
    line = b"<p>All work and no play makes a large page, line by line.</p>\n"
    (pages / "hello.html").write_bytes(
        b"<!DOCTYPE html><title>Large</title>\n" + line * (size // len(line))
    )
    shutil.copy(PAGES / "404.html", pages)
    return pages


class LossyNamespace:
    """
    A network namespace of its own whose input drops C{percent} of the
    packets sent from the ports C{fromPorts} (the server's: so that what is
    lost is the answers, not the requests, which would hold up every
    answer alike), or of every packet if none are given.
    """

    def __init__(self, percent: int, fromPorts: tuple[int, ...] = ()) -> None:
        self.name = f"hello-loss-{os.getpid()}-{time.monotonic_ns() % 100000}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        ports = ", ".join(str(port) for port in fromPorts)
        match = f"th sport {{ {ports} }} " if fromPorts else ""
        try:
            self.run("ip", "link", "set", "lo", "up")
            rules = (
                "table inet loss {\n"
                "  chain input {\n"
                "    type filter hook input priority 0; policy accept;\n"
                f"    {match}numgen random mod 100 < {percent} counter drop\n"
                "  }\n"
                "}\n"
            )
            self.run("nft", "-f", "-", stdin=rules)
        except BaseException:
            self.close()
            raise

    def command(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def run(self, *command: str, stdin: str | None = None) -> str:
        return subprocess.run(
            self.command(*command), check=True, capture_output=True, text=True,
            timeout=600, input=stdin, cwd=CHECKOUT,
        ).stdout  # fmt: skip

    def timelines(
        self, python: str, h2Port: int, h3Port: int, runs: int
    ) -> dict[str, list[list[dict[str, Any]]]]:
        """C{runs} runs of the client below over each protocol, inside."""
        output = self.run(
            python, "-m", "tests.support.lossy", "--h2-port", str(h2Port),
            "--h3-port", str(h3Port), "--runs", str(runs),
        )  # fmt: skip
        found: dict[str, list[list[dict[str, Any]]]] = json.loads(
            output.strip().splitlines()[-1]
        )
        return found

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def overHTTP2(port: int, timeout: float) -> list[dict[str, Any]]:
    from h2.config import H2Configuration
    from h2.connection import H2Connection
    from h2.events import DataReceived, StreamEnded
    from h2.settings import SettingCodes

    client = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    h2.initiate_connection()
    # A window as large as the page, so that flow control is not measured.
    h2.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 2**24})
    h2.increment_flow_control_window(2**24)

    def request(path: bytes) -> int:
        stream: int = h2.get_next_available_stream_id()
        h2.send_headers(
            stream,
            [(b":method", b"GET"), (b":path", path), (b":scheme", b"http"),
             (b":authority", b"127.0.0.1")],
            end_stream=True,
        )  # fmt: skip
        return stream

    def readUntil(streams: set[int], ended: dict[int, float], start: float) -> None:
        while not streams <= set(ended):
            data = client.recv(262144)
            if not data:
                raise ConnectionError("closed")
            for event in h2.receive_data(data):
                if isinstance(event, DataReceived):
                    h2.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                elif isinstance(event, StreamEnded):
                    ended[event.stream_id] = time.monotonic() - start
            client.sendall(h2.data_to_send())

    warm = request(b"/nothing")
    client.sendall(h2.data_to_send())
    readUntil({warm}, {}, time.monotonic())
    ended: dict[int, float] = {}
    streams = [request(path) for path in PATHS]
    start = time.monotonic()
    client.sendall(h2.data_to_send())
    readUntil(set(streams), ended, start)
    client.close()
    return [
        {"path": path.decode(), "ended": ended[stream]}
        for path, stream in zip(PATHS, streams, strict=True)
    ]


async def _overHTTP3(port: int) -> list[dict[str, Any]]:
    from tests.support.http3client import (
        clientConfiguration,
        requestFields,
        session,
    )

    configuration = clientConfiguration(max_data=2**24, max_stream_data=2**24)
    async with await session(port, configuration=configuration) as client:
        await client.waiters[client.send(requestFields(b"/nothing"))]
        start = asyncio.get_running_loop().time()
        streams = [client.send(requestFields(path)) for path in PATHS]
        answers = await asyncio.gather(*(client.waiters[s] for s in streams))
    return [
        {"path": path.decode(), "ended": answer.at - start}
        for path, answer in zip(PATHS, answers, strict=True)
    ]


def timelines(
    h2Port: int, h3Port: int, runs: int, timeout: float = 60.0
) -> dict[str, list[list[dict[str, Any]]]]:
    """C{runs} runs of each protocol, interleaved."""
    found: dict[str, list[list[dict[str, Any]]]] = {"h2": [], "h3": []}
    for _ in range(runs):
        found["h2"].append(overHTTP2(h2Port, timeout))
        found["h3"].append(asyncio.run(asyncio.wait_for(_overHTTP3(h3Port), timeout)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--h2-port", type=int, required=True)
    parser.add_argument("--h3-port", type=int, required=True)
    parser.add_argument("--runs", type=int, default=1)
    arguments = parser.parse_args()
    print(json.dumps(timelines(arguments.h2_port, arguments.h3_port, arguments.runs)))


if __name__ == "__main__":
    main()
