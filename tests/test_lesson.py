"""
The lesson's stages in memory, as the async book tests its server against a
mock stream: a L{StringTransport} for the socket and a L{Clock} for time,
so a C{/sleep} of five seconds is answered without waiting a second.  The
first test is the one the tutorial shows.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

# The examples import their neighbour lesson.py, as a script run from
# examples/ does.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

from lesson import HELLO, NOT_FOUND, Incoming, answer  # noqa: E402
from stage1_serial import serve  # noqa: E402
from stage2_concurrent import ConcurrentFactory  # noqa: E402


class StoppablePort:
    """
    A listening port that only remembers whether it reads (accepts).
    """

    connected = True
    reading = True

    def stopReading(self) -> None:
        self.reading = False

    def startReading(self) -> None:
        self.reading = True


def connect(factory: Any) -> tuple[Any, StringTransport]:
    """
    A connection made by C{factory}: its protocol, on a transport that
    keeps what is written.
    """
    protocol, transport = factory.buildProtocol(None), StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


class ConcurrentStageTests(SynchronousTestCase):
    def test_sleepAnsweredWithoutWaiting(self) -> None:
        """
        A C{/sleep} is answered when the clock has moved on by the delay,
        not before; a C{GET /} on another connection meanwhile at once.
        """
        clock = Clock()
        factory = ConcurrentFactory(clock, sleep=5.0, limit=100)
        factory.port = StoppablePort()
        sleeper, slow = connect(factory)
        greeter, quick = connect(factory)

        sleeper.dataReceived(b"GET /sleep HTTP/1.1\r\n\r\n")
        greeter.dataReceived(b"GET / HTTP/1.1\r\n\r\n")
        self.assertEqual(quick.value(), answer(b"200 OK", HELLO))
        clock.advance(4.9)
        self.assertEqual(slow.value(), b"")
        clock.advance(0.1)
        self.assertEqual(slow.value(), answer(b"200 OK", HELLO))
        self.assertTrue(slow.disconnecting)

    def test_limit(self) -> None:
        """
        At the limit the port stops accepting; a connection closing frees a
        place and it accepts again.
        """
        factory = ConcurrentFactory(Clock(), sleep=5.0, limit=1)
        factory.port = port = StoppablePort()
        protocol, _ = connect(factory)
        self.assertFalse(port.reading)
        protocol.connectionLost()
        self.assertTrue(port.reading)


class SerialStageTests(SynchronousTestCase):
    def test_oneConnectionAtATime(self) -> None:
        """
        Stage 1 takes the second connection only when the first is
        answered: until then the port does not accept.
        """
        clock = Clock()
        incoming = Incoming()
        incoming.port = port = StoppablePort()
        serving = Deferred.fromCoroutine(serve(clock, incoming, 5.0))
        self.assertTrue(port.reading)  # waiting for a first connection
        connection, first = connect(incoming)
        self.assertFalse(port.reading)
        connection.dataReceived(b"GET /sleep HTTP/1.1\r\n\r\n")
        clock.advance(5)
        self.assertEqual(first.value(), answer(b"200 OK", HELLO))
        self.assertTrue(port.reading)  # now the next
        connection, second = connect(incoming)
        connection.dataReceived(b"GET /nothing HTTP/1.1\r\n\r\n")
        self.assertEqual(second.value(), answer(b"404 NOT FOUND", NOT_FOUND))
        serving.cancel()
        self.failureResultOf(serving)
