"""
What the service refused or cut, counted by cause (C{hello_refused_total}),
on the HTTP/1.1 path: each refusing status under its cause, and the
connections cut by a timeout, on a L{Clock} and a L{StringTransport}.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from hello_service.connection.deadlines import Timeouts
from hello_service.http import counting, statuslines

from .support.builders import connect, get, makeFactory


def counted(factory: object) -> dict[str, int]:
    """
    The causes counted so far, without the zeros.
    """
    return {c: n for c, n in factory.counts.refusals.items() if n}  # type: ignore[attr-defined]


class RefusalCauseTests(SynchronousTestCase):
    def test_everyRefusingStatus(self) -> None:
        """
        Each refusing status has one cause; answers that refuse nothing
        (a 200, a 404, a 500) have none.
        """
        self.assertEqual(
            {
                status[:3]: counting.refusalCause(status)
                for status in statuslines.ALL
                if counting.refusalCause(status)
            },
            {
                b"400": "malformed", b"405": "malformed", b"505": "malformed",
                b"408": "header_timeout", b"413": "body_limit",
                b"414": "header_limit", b"431": "header_limit",
            },
        )  # fmt: skip
        for status in (
            statuslines.OK,
            statuslines.NOT_FOUND,
            statuslines.INTERNAL_ERROR,
        ):
            self.assertIsNone(counting.refusalCause(status))

    def test_everyCauseSummed(self) -> None:
        """
        Several processes' refusals add up, cause by cause.
        """
        one, two = counting.RequestCounts(), counting.RequestCounts()
        one.refused("malformed")
        two.refused("malformed")
        two.refusedWith(statuslines.REQUEST_TIMEOUT)
        summed = counting.addFigures([one.figures(), two.figures()])
        self.assertEqual(summed["refusals"]["malformed"], 2)
        self.assertEqual(summed["refusals"]["header_timeout"], 1)
        self.assertEqual(set(summed["refusals"]), set(counting.REFUSALS))


class HTTP11RefusalTests(SynchronousTestCase):
    """
    Each refusal and cut of an HTTP/1.1 connection counts once, under its
    cause; a request served counts nothing.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.factory = makeFactory(
            self.clock, timeouts=Timeouts(header=2, idle=3, write=4)
        )

    def send(self, data: bytes) -> None:
        protocol, _ = connect(self.factory)
        protocol.dataReceived(data)

    def test_servedCountsNothing(self) -> None:
        self.send(get())
        self.send(get(b"/missing"))
        self.assertEqual(counted(self.factory), {})

    def test_malformed(self) -> None:
        self.send(b"GET / HTTP/1.1\r\nHost a\r\n\r\n")
        self.send(b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n")
        self.send(b"GET / HTTP/2.5\r\nHost: a\r\n\r\n")
        self.assertEqual(counted(self.factory), {"malformed": 3})

    def test_headerLimit(self) -> None:
        self.send(b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n")
        self.assertEqual(counted(self.factory), {"header_limit": 1})

    def test_bodyLimit(self) -> None:
        self.send(get(method=b"POST", extra=b"Content-Length: 999999999\r\n"))
        self.assertEqual(counted(self.factory), {"body_limit": 1})

    def test_headerTimeout(self) -> None:
        """
        A head not finished in time is answered 408 and counted once.
        """
        self.send(b"GET / HTTP/1.1\r\n")
        self.clock.advance(2)
        self.assertEqual(counted(self.factory), {"header_timeout": 1})

    def test_idleTimeout(self) -> None:
        """
        A keep-alive connection closed for its idleness counts once.
        """
        protocol, transport = connect(self.factory)
        protocol.dataReceived(get())
        self.clock.advance(2.9)
        self.assertEqual(counted(self.factory), {})
        self.clock.advance(0.1)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(counted(self.factory), {"idle_timeout": 1})

    def test_writeTimeout(self) -> None:
        """
        A client that stops reading its answer is cut, and counted.
        """
        protocol, transport = connect(self.factory)
        protocol.pauseProducing()  # as when the kernel's buffer is full
        transport.producer = protocol
        protocol.dataReceived(get(extra=b"Connection: close\r\n"))
        self.clock.advance(4)
        self.assertEqual(counted(self.factory).get("write_timeout"), 1)
