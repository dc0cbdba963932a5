# -*- test-case-name: tests.test_tcp -*-
"""
End-to-end over real TCP on 127.0.0.1: the claims of the concurrent path.
"""

from __future__ import annotations

from twisted.internet.defer import gatherResults
from twisted.trial.unittest import TestCase

from ..support.tcp import closing, exchange, portOf, reactor, startService


class ConcurrentTCPTests(TestCase):
    """
    A slow request never holds up the others.
    """

    async def test_slowDoesNotDelayFast(self) -> None:
        """
        While C{/sleep} is pending on one connection, C{GET /} on another is
        answered at once.
        """
        port = portOf(startService(self, "--sleep", "2"))
        started = reactor().seconds()
        slow = exchange(port, closing(b"/sleep"))
        fastAnswer, fastDone = await exchange(port, closing(b"/"))
        self.assertTrue(fastAnswer.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertLess(fastDone - started, 0.5)
        slowAnswer, slowDone = await slow
        self.assertTrue(slowAnswer.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertGreaterEqual(slowDone - started, 2.0)

    async def test_manySimultaneousSleeps(self) -> None:
        """
        500 simultaneous C{/sleep} requests with a 1 s delay all succeed and
        all finish within 2 s: they wait together, not one after another.
        """
        port = portOf(startService(self, "--sleep", "1"))
        started = reactor().seconds()
        results = await gatherResults(
            [exchange(port, closing(b"/sleep")) for _ in range(500)]
        )
        self.assertEqual(
            [answer[:17] for answer, _ in results], [b"HTTP/1.1 200 OK\r\n"] * 500
        )
        finished = max(done for _, done in results)
        self.assertGreaterEqual(finished - started, 1.0)
        self.assertLess(finished - started, 2.0)

    async def test_badInputClosesOnlyItsConnection(self) -> None:
        """
        Garbage on one connection gets a 400 and a close there; a keep-alive
        connection opened before it still answers afterwards.
        """
        port = portOf(startService(self, "--sleep", "0.5"))
        bystander = exchange(
            port, b"GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n" + closing(b"/")
        )
        garbage, _ = await exchange(port, b"\x00\x01 not http\r\n\r\n")
        self.assertTrue(garbage.startswith(b"HTTP/1.1 400 Bad Request\r\n"))
        answer, _ = await bystander
        self.assertEqual(answer.count(b"HTTP/1.1 200 OK\r\n"), 2)
