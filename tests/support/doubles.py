"""
Test doubles Twisted does not ship: a thread pool whose work runs only when
the test says so, a reactor that runs "from thread" calls at once, a socket
whose send buffer fills, and a transport that half-closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure


class QueueingThreadPool:
    """
    Enough of L{twisted.python.threadpool.ThreadPool} for
    C{deferToThreadPool}: work is queued, and runs when L{finish} is called.
    """

    def __init__(self) -> None:
        self.queued: list[
            tuple[Callable[[bool, Any], None], Callable[..., Any], tuple[Any, ...]]
        ] = []

    def callInThreadWithCallback(
        self,
        onResult: Callable[[bool, Any], None],
        func: Callable[..., Any],
        *args: Any,
    ) -> None:
        self.queued.append((onResult, func, args))

    def finish(self, index: int = 0) -> None:
        """
        Run the C{index}th queued work now and report its result.
        """
        onResult, func, args = self.queued.pop(index)
        try:
            result, succeeded = func(*args), True
        except BaseException:
            result, succeeded = Failure(), False
        # Reported outside the except block, as Twisted's pool does: no
        # exception is being handled when the result arrives.
        onResult(succeeded, result)


class ImmediateReactor:
    """
    C{callFromThread} for work that "finishes" on the test's own thread.
    """

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        f(*args, **kwargs)


class ChokingSocket:
    """
    A non-blocking socket's C{send} whose buffer holds C{capacity} bytes and
    is never drained: what fits is taken, then sends would block.  The bytes
    taken are in L{sent}.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.sent = b""

    def send(self, data: bytes) -> int:
        room = self.capacity - len(self.sent)
        if room <= 0:
            raise BlockingIOError()
        taken = data[:room]
        self.sent += taken
        return len(taken)


class HalfCloseableTransport(StringTransport):
    """
    A L{StringTransport} that can close its writing side alone, as a TCP
    transport can (C{loseWriteConnection}).
    """

    halfClosed = False

    def loseWriteConnection(self) -> None:
        self.halfClosed = True
