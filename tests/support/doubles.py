"""
Test doubles Twisted does not ship: a thread pool whose work runs only when
the test says so, a reactor that runs "from thread" calls at once, a socket
whose send buffer fills, and a transport that half-closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import LogLevel, eventAsJSON
from twisted.python.failure import Failure
from zope.interface import implementer


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
        #: The flags of each send, in order.
        self.flags: list[int] = []

    def send(self, data: bytes, flags: int = 0) -> int:
        self.flags.append(flags)
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


class FakeProcess:
    """
    A child process as a L{ProcessReactor} makes it: it records the signals
    sent to it and ends only when the test says so.
    """

    def __init__(self, protocol: Any, pid: int, arguments: list[str]) -> None:
        self.protocol = protocol
        self.pid = pid
        self.arguments = arguments
        self.signals: list[str | int] = []
        self.ended = False
        #: How it was started (set by L{ProcessReactor.spawnProcess}).
        self.executable: str = ""
        self.environment: Any = None
        self.childFDs: Any = None

    def signalProcess(self, name: str | int) -> None:
        if self.ended:
            raise ProcessExitedAlready()
        self.signals.append(name)

    def closeStdin(self) -> None:
        pass

    def loseConnection(self) -> None:
        pass

    def say(self, **event: Any) -> None:
        """
        The process logs C{event}, as a worker does, as a JSON line.
        """
        line = eventAsJSON(
            {
                "log_format": "",
                "log_namespace": "test",
                "log_level": LogLevel.info,
                "log_time": 0.0,
                "log_source": None,
                **event,
            }
        )
        # As jsonFileLogObserver writes it: a record separator first.
        self.protocol.childDataReceived(1, b"\x1e" + line.encode() + b"\n")

    def end(self, exitCode: int | None = 0, signal: int | None = None) -> None:
        """
        The process ends: with C{exitCode}, or killed by C{signal}.
        """
        self.ended = True
        if exitCode == 0 and signal is None:
            reason = Failure(ProcessDone(0))
        else:
            reason = Failure(ProcessTerminated(exitCode, signal))
        self.protocol.processEnded(reason)


class ProcessReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} that starts fake processes: L{spawned} lists
    them, oldest first, with PIDs from 1001.
    """

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[FakeProcess] = []
        self.stopped = False

    def spawnProcess(  # type: ignore[override]
        self, protocol: Any, executable: str, args: list[str], env: Any = None,
        path: Any = None, uid: Any = None, gid: Any = None, usePTY: Any = False,
        childFDs: Any = None,
    ) -> FakeProcess:  # fmt: skip
        process = FakeProcess(protocol, 1001 + len(self.spawned), list(args))
        process.executable = executable
        process.environment = env
        process.childFDs = childFDs
        self.spawned.append(process)
        protocol.makeConnection(process)
        return process

    def stop(self) -> None:
        self.stopped = True

    def callFromThread(self, callable: Any, *args: Any, **kwargs: Any) -> None:
        callable(*args, **kwargs)


@implementer(ISSLTransport)
class PostponingTLSTransport(StringTransport):
    """
    A L{StringTransport} that closes as Twisted's TLS layer does
    (C{TLSMemoryBIOProtocol.loseConnection}, Twisted 26.10).  While a
    producer is registered the close waits for C{unregisterProducer}: a
    close path that forgets to let go of its producer leaves this
    transport open, as it left real C{ssl:} connections open.  And a close
    sends TLS's close alert, then waits for the client's, with no bound:
    the connection has ended only once the TCP connection under it
    (C{transport}) is closed.  It also says which protocol ALPN chose.
    """

    #: A close was asked for while a producer was registered.
    closePostponed = False

    def __init__(self, negotiatedProtocol: bytes | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.negotiatedProtocol = negotiatedProtocol
        #: The TCP connection under TLS.
        self.transport = StringTransport(peerAddress=kwargs.get("peerAddress"))

    def loseConnection(self) -> None:
        if self.producer is not None:
            self.closePostponed = True
            return
        super().loseConnection()  # the close alert; the client's may never come

    def unregisterProducer(self) -> None:
        super().unregisterProducer()
        if self.closePostponed:
            super().loseConnection()

    def abortConnection(self) -> None:
        """
        An abort does not wait (C{TLSMemoryBIOProtocol.abortConnection}):
        it ends the TCP connection under TLS.
        """
        self.disconnected = True
        super().loseConnection()
        self.transport.loseConnection()
