# -*- test-case-name: tests.test_hygiene -*-
"""
Abandoned connections cost nothing: descriptors, timers, threads and the
log are as they were.  And running out of descriptors is survived.
"""

from __future__ import annotations

import os
import socket

from twisted.internet.task import deferLater
from twisted.logger import capturedLogs
from twisted.trial.unittest import TestCase

from ..support.tcp import closing, exchange, portOf, reactor, startService

HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n"
STATES = {
    "connected": b"",
    "mid-head": HEAD,
    "mid-body": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
    "mid-sleep": b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n",
    "mid-pipeline": b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n" * 3 + HEAD,
    "refused": b"garbage\r\n\r\n" + b"x" * 1000,
}


def openDescriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def pause(seconds: float) -> None:
    await deferLater(reactor(), seconds, lambda: None)


class AbandonedConnectionsTests(TestCase):
    """
    A few hundred connections opened and abandoned in every state leave
    the server as it was.
    """

    async def abandonAll(self, *arguments: str) -> None:
        service = startService(self, *arguments)
        port = portOf(service)
        await exchange(port, closing(b"/"))  # warm up: the pool, caches
        await pause(0.1)
        before = openDescriptors()
        with capturedLogs() as events:
            clients = []
            for _ in range(40):
                for data in STATES.values():
                    client = socket.create_connection(("127.0.0.1", port), timeout=2)
                    if data:
                        client.sendall(data)
                    clients.append(client)
            await pause(0.5)
            self.assertEqual(len(service.factory.connections), len(clients))
            for index, client in enumerate(clients):
                if index % 2:  # half leave with a reset, half with a FIN
                    client.setsockopt(
                        socket.SOL_SOCKET,
                        socket.SO_LINGER,
                        b"\x01\x00\x00\x00\x00\x00\x00\x00",
                    )
                client.close()
            for _ in range(50):
                await pause(0.1)
                if not service.factory.connections:
                    break
        self.assertEqual(len(service.factory.connections), 0)
        self.assertEqual(openDescriptors(), before)
        ours = [
            call.func.__qualname__
            for call in reactor().getDelayedCalls()
            if not call.func.__qualname__.startswith("TestCase.")
        ]
        # No connection left a timer behind: the one left is the service's
        # own reactor-lag tick, which runs as long as it serves.
        self.assertEqual(ours, ["ReactorLag._tick"])
        problems = [
            e
            for e in events
            if e["log_level"].name in ("warn", "error", "critical")
            or "log_failure" in e
        ]
        self.assertEqual(problems, [])
        answer, _ = await exchange(port, closing(b"/"))
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"))

    async def test_concurrent(self) -> None:
        """
        In concurrent mode.
        """
        await self.abandonAll("--sleep", "5")

    async def test_parallel(self) -> None:
        """
        In parallel mode, with work still running in threads.
        """
        await self.abandonAll("--parallel", "--threads", "4", "--sleep", "5")


class UnreadResponsesTests(TestCase):
    """
    A client that pipelines requests and never reads the answers fills the
    socket, then the transport; the server stops reading from it and drops
    it after the write timeout, while everyone else is served.
    """

    async def test_droppedAfterWriteTimeout(self) -> None:
        """
        Over real TCP: the stalled connection is closed about one write
        timeout after it stalls, and a bystander is answered meanwhile.
        """
        service = startService(self, "--write-timeout", "1")
        port = portOf(service)
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", port))
        stalled.setblocking(False)
        self.addCleanup(stalled.close)
        flood = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 1000
        started = reactor().seconds()
        sent = 0
        while reactor().seconds() - started < 5:
            try:
                sent += stalled.send(flood)
            except BlockingIOError:
                await pause(0.05)  # both directions are full: the server paused
                if not service.factory.connections:
                    break
            except OSError:
                break
            else:
                await pause(0)
        answer, _ = await exchange(port, closing(b"/"))
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"))
        for _ in range(60):
            if not service.factory.connections:
                break
            await pause(0.1)
        self.assertEqual(service.factory.connections, set())
        elapsed = reactor().seconds() - started
        self.assertLess(elapsed, 6)
        self.assertGreater(sent, 100_000)


class LingeringCloseTests(TestCase):
    """
    A refusal reaches a client that is still sending, instead of being
    destroyed by a reset.
    """

    async def test_refusalDuringUpload(self) -> None:
        """
        A client uploading a body over the limit reads the whole 413 and
        then the end of the stream while it is still sending; if it never
        closes, the server lets go after the linger time.
        """
        service = startService(self)
        client = socket.create_connection(("127.0.0.1", portOf(service)))
        self.addCleanup(client.close)
        client.setblocking(False)
        client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
        received = b""
        started = reactor().seconds()
        ended = False
        while not ended and reactor().seconds() - started < 5:
            try:
                client.send(b"a" * 65536)  # still uploading
            except (BlockingIOError, OSError):
                pass
            try:
                chunk = client.recv(65536)
            except BlockingIOError:
                await pause(0.01)
                continue
            received += chunk
            ended = not chunk
        self.assertTrue(ended)
        self.assertTrue(received.startswith(b"HTTP/1.1 413 Content Too Large\r\n"))
        self.assertTrue(received.endswith(b"\r\n\r\n413 Content Too Large\n"))
        self.assertEqual(len(service.factory.connections), 1)  # lingering
        await pause(2.5)
        self.assertEqual(service.factory.connections, set())
