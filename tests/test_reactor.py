"""
Tests for L{hello_service.connection.reactor}: each event goes to its handler as
under Twisted's epoll reactor (the same outcome for the same event, checked
on both side by side), and an error is logged under the prefix of the
selectable it happened in, which is all the per-event logging context was
for.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.epollreactor import EPollReactor
from twisted.internet.error import ConnectionDone, ConnectionFdescWentAway
from twisted.internet.interfaces import IReadWriteDescriptor
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from hello_service.connection.reactor import HelloEPollReactor, logPrefixOf, reactorName


@implementer(IReadWriteDescriptor)
class Selectable:
    """
    One end of a socket pair, recording what the reactor makes of it.
    """

    def __init__(self, sock: socket.socket, prefix: str = "Conn,7,1.2.3.4") -> None:
        self.socket = sock
        self.prefix = prefix
        self.reads: list[bytes] = []
        self.writes = 0
        self.lost: list[Failure] = []
        self.failOnRead: BaseException | None = None
        self.failOnLoss = False
        self.closedFileno = False

    def fileno(self) -> int:
        return -1 if self.closedFileno else self.socket.fileno()

    def logPrefix(self) -> str:
        return self.prefix

    def doRead(self) -> Any:
        if self.failOnRead is not None:
            raise self.failOnRead
        data = self.socket.recv(100)
        if not data:
            return ConnectionDone()
        self.reads.append(data)
        return None

    def doWrite(self) -> Any:
        self.writes += 1
        return None

    def connectionLost(self, reason: Failure) -> None:
        self.lost.append(reason)
        if self.failOnLoss:
            raise RuntimeError("connectionLost failed")


def loggedErrors(events: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """
    The system and message of each error logged among C{events}.
    """
    return [
        (e["log_system"], e["failure"].getErrorMessage())
        for e in events
        if "failure" in e
    ]


class BothReactors:
    """
    Each test runs on hello's reactor and on Twisted's, and must see the
    same.
    """

    kind: type[EPollReactor]

    def setUp(self) -> None:
        self.reactor = self.kind()  # type: ignore[no-untyped-call]
        self.addCleanup(self.reactor._poller.close)  # type: ignore[attr-defined]

    def pair(self, **kwargs: Any) -> tuple[Selectable, socket.socket]:
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)  # type: ignore[attr-defined]
        self.addCleanup(theirs.close)  # type: ignore[attr-defined]
        ours.setblocking(False)
        return Selectable(ours, **kwargs), theirs

    def test_readThenWrite(self) -> None:
        """
        A readable and writable selectable is read, then written.
        """
        selectable, other = self.pair()
        other.sendall(b"hello")
        self.reactor.addReader(selectable)
        self.reactor.addWriter(selectable)
        self.reactor.doIteration(0)
        self.assertEqual((selectable.reads, selectable.writes), ([b"hello"], 1))  # type: ignore[attr-defined]

    def test_hangUpAfterLastRead(self) -> None:
        """
        Data then a close: the data is read, then the connection is done.
        """
        selectable, other = self.pair()
        other.sendall(b"last")
        other.close()
        self.reactor.addReader(selectable)
        for _ in range(3):
            self.reactor.doIteration(0)
        self.assertEqual(selectable.reads, [b"last"])  # type: ignore[attr-defined]
        self.assertEqual(len(selectable.lost), 1)  # type: ignore[attr-defined]
        self.assertIsInstance(selectable.lost[0].value, ConnectionDone)  # type: ignore[attr-defined]

    def test_descriptorGone(self) -> None:
        """
        A selectable whose C{fileno} says -1 is disconnected, unread.
        """
        selectable, other = self.pair()
        other.sendall(b"x")
        self.reactor.addReader(selectable)
        selectable.closedFileno = True
        self.reactor.doIteration(0)
        self.assertEqual(selectable.reads, [])  # type: ignore[attr-defined]
        self.assertIsInstance(selectable.lost[0].value, ConnectionFdescWentAway)  # type: ignore[attr-defined]

    def test_errorLoggedWithPrefix(self) -> None:
        """
        An exception from a handler disconnects that selectable only, and
        is logged with its prefix as the system, as the per-event context
        did; the other selectable's event is handled in the same pass.
        """
        failing, one = self.pair(prefix="HelloProtocol,3,203.0.113.7")
        failing.failOnRead = ValueError("boom")
        healthy, two = self.pair(prefix="HelloProtocol,4,198.51.100.1")
        one.sendall(b"a")
        two.sendall(b"b")
        self.reactor.addReader(failing)
        self.reactor.addReader(healthy)
        with capturedLogs() as events:
            self.reactor.doIteration(0)
        self.assertEqual(
            loggedErrors(events), [("HelloProtocol,3,203.0.113.7", "boom")]
        )
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)  # type: ignore[attr-defined]
        self.assertIsInstance(failing.lost[0].value, ValueError)  # type: ignore[attr-defined]
        self.assertEqual((healthy.reads, healthy.lost), ([b"b"], []))  # type: ignore[attr-defined]

    def test_errorInConnectionLost(self) -> None:
        """
        An exception from C{connectionLost} while disconnecting is logged
        with the prefix too, and the next event is still handled.
        """
        failing, one = self.pair(prefix="Broken,9,10.0.0.1")
        failing.failOnLoss = True
        healthy, two = self.pair()
        one.close()
        two.sendall(b"b")
        self.reactor.addReader(failing)
        self.reactor.addReader(healthy)
        with capturedLogs() as events:
            self.reactor.doIteration(0)
            self.reactor.doIteration(0)
        self.assertEqual(
            loggedErrors(events), [("Broken,9,10.0.0.1", "connectionLost failed")]
        )
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)  # type: ignore[attr-defined]
        self.assertEqual(healthy.reads, [b"b"])  # type: ignore[attr-defined]


class HelloReactorTests(BothReactors, SynchronousTestCase):
    kind = HelloEPollReactor

    def watched(self, selectable: Selectable) -> tuple[bool, bool, bool]:
        """
        Whether the reactor reads, writes, and keeps C{selectable}.
        """
        return (
            selectable in self.reactor.getReaders(),
            selectable in self.reactor.getWriters(),
            selectable in self.reactor._selectables.values(),
        )

    def test_forget(self) -> None:
        """
        L{HelloEPollReactor.forget} stops reading and writing at once,
        whichever it was doing, and leaves the others watched; its events
        stop coming.
        """
        reading, _ = self.pair()
        writing, _ = self.pair()
        both, bothOther = self.pair()
        kept, keptOther = self.pair()
        self.reactor.addReader(reading)
        self.reactor.addWriter(writing)
        self.reactor.addReader(both)
        self.reactor.addWriter(both)
        self.reactor.addReader(kept)
        for selectable in (reading, writing, both):
            self.reactor.forget(selectable)
            self.assertEqual(self.watched(selectable), (False, False, False))
        self.reactor.forget(reading)  # watched for nothing: nothing to do
        self.assertEqual(self.watched(kept), (True, False, True))
        bothOther.sendall(b"unseen")
        keptOther.sendall(b"seen")
        self.reactor.doIteration(0)
        self.assertEqual((both.reads, both.writes), ([], 0))
        self.assertEqual(kept.reads, [b"seen"])
        # The descriptor is free for epoll again: watching it anew works.
        self.reactor.addReader(both)
        self.reactor.doIteration(0)
        self.assertEqual(both.reads, [b"unseen"])


class TwistedReactorTests(BothReactors, SynchronousTestCase):
    kind = EPollReactor


class NamingTests(SynchronousTestCase):
    def test_names(self) -> None:
        """
        The workers are told the main process's reactor by its twistd name.
        """
        hello = HelloEPollReactor()  # type: ignore[no-untyped-call]
        self.addCleanup(hello._poller.close)
        stock = EPollReactor()  # type: ignore[no-untyped-call]
        self.addCleanup(stock._poller.close)
        self.assertEqual((reactorName(hello), reactorName(stock)), ("hello", "epoll"))
        self.assertEqual(reactorName(object()), "")

    def test_buggyPrefix(self) -> None:
        class Buggy:
            def logPrefix(self) -> str:
                raise RuntimeError()

        self.assertEqual(logPrefixOf(Buggy()), "(buggy logPrefix method)")
        self.assertEqual(logPrefixOf(Selectable(None, "P")), "P")  # type: ignore[arg-type]
