# -*- test-case-name: tests.test_limits -*-
"""
The connection limit: C{for_each_concurrent(limit)} of the original.

At the limit the listening ports stop accepting, so waiting clients stay in
the kernel's listen backlog, and accepting resumes as connections close.  No
connection is refused or reset because of the limit.
"""

from __future__ import annotations

import resource
from collections import deque
from collections.abc import Callable
from typing import Protocol

#: Descriptors kept free for everything that is not a client connection:
#: listening sockets, log files, the reactor's own, pages read by threads.
DESCRIPTOR_HEADROOM = 100

#: Why a limiter limits, as the start-up line says it.
BY_OPTION = "--max-connections"
BY_DESCRIPTORS = "file descriptor limit"


class Admittable(Protocol):
    """
    A connection the limiter may hold back and later let in.

    @ivar admitted: whether L{admit} was called: it is being served.
    """

    admitted: bool

    def admit(self) -> None:
        """
        Start serving this connection.
        """


class Pausable(Protocol):
    """
    A listening port: pausing it stops accepting (a Twisted port is an
    C{IPushProducer} whose pause stops reading its socket).
    """

    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...


class ConnectionLimiter:
    """
    Keeps at most C{maximum} connections being served.

    It counts the connections it serves (each knows whether it was
    admitted: no set of them is kept) and holds the others in a line.

    A port may accept a few connections more in the same reactor turn in
    which the limit was reached (Twisted accepts in batches); those are held,
    unread, in arrival order, and admitted first as places free up.  To keep
    that overshoot small, whenever accepting starts again a port's batch
    (Twisted's C{numberAccepts}, which starts at 100 and grows by 20 after
    every full batch) is cut to the number of free places.
    """

    def __init__(self, maximum: int, reason: str = BY_OPTION) -> None:
        if maximum < 1:
            raise ValueError("the connection limit must be at least 1")
        self.maximum = maximum
        self.reason = reason
        #: Called each time the limit is reached and accepting pauses.
        self.onFull: Callable[[], None] | None = None
        #: How many times the limit was reached and accepting paused (an
        #: operator's count of the clients this made wait).
        self.timesFull = 0
        self._served = 0
        self._waiting: deque[Admittable] = deque()
        self._ports: list[Pausable] = []
        self._paused = False

    @property
    def waiting(self) -> int:
        """
        How many connections are held, unread, for a place.
        """
        return len(self._waiting)

    @property
    def served(self) -> int:
        """
        How many connections are being served now.
        """
        return self._served

    def addPort(self, port: Pausable) -> None:
        """
        Pause and resume C{port} with the limit.
        """
        self._ports.append(port)
        if self._paused:
            port.pauseProducing()
        else:
            self._limitBatch(port)

    def removePort(self, port: Pausable) -> None:
        """
        Forget C{port}: it stopped listening and must never be resumed.
        """
        if port in self._ports:
            self._ports.remove(port)

    def acquire(self, connection: Admittable) -> bool:
        """
        A new connection arrived: admit it (its C{admit} is called) if
        there is a place, or hold it until one frees up.

        @return: whether it was admitted now.
        """
        if self._served < self.maximum:
            self._served += 1
            connection.admit()
            self._pauseIfFull()
            return True
        self._waiting.append(connection)
        self._pause()
        return False

    @property
    def hasPlace(self) -> bool:
        """Whether one more connection would be served now."""
        return self._served < self.maximum

    def acquireNow(self, connection: Admittable) -> bool:
        """
        A new connection that cannot wait in a line (a QUIC one: its
        packets keep coming): admit it if there is a place.

        @return: whether it was admitted.
        """
        if not self.hasPlace:
            return False
        self._served += 1
        connection.admit()
        self._pauseIfFull()
        return True

    def release(self, connection: Admittable) -> None:
        """
        A connection closed: let in the next one, or accept again.
        """
        if not connection.admitted:
            try:
                self._waiting.remove(connection)
            except ValueError:
                pass
            return
        self._served -= 1
        while self._waiting and self._served < self.maximum:
            self._served += 1
            self._waiting.popleft().admit()
        if self._served < self.maximum and self._paused:
            self._paused = False
            for port in self._ports:
                self._limitBatch(port)
                port.resumeProducing()

    def _limitBatch(self, port: Pausable) -> None:
        if isinstance(getattr(port, "numberAccepts", None), int):
            free = self.maximum - self._served
            port.numberAccepts = max(1, min(port.numberAccepts, free))  # type: ignore[attr-defined]

    def _pauseIfFull(self) -> None:
        if self._served >= self.maximum:
            self._pause()

    def _pause(self) -> None:
        if not self._paused:
            self._paused = True
            self.timesFull += 1
            for port in self._ports:
                port.pauseProducing()
            if self.onFull is not None:
                self.onFull()


def currentDescriptorLimit() -> int | None:
    """
    This process's soft limit on open files, or C{None} if there is none.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def raiseDescriptorLimit() -> int | None:
    """
    Raise this process's soft limit on open files to its hard limit, as a
    server that holds a descriptor per client should.

    @return: the soft limit now in force, or C{None} if there is none.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return None if soft == resource.RLIM_INFINITY else soft


def descriptorLimiter(
    maxConnections: int, openFiles: int | None
) -> ConnectionLimiter | None:
    """
    The limiter for C{--max-connections} (0 for none), capped so that client
    connections never exhaust the process's descriptors: accepting pauses
    before C{accept} could fail with EMFILE.
    """
    ceiling = None if openFiles is None else max(1, openFiles - DESCRIPTOR_HEADROOM)
    if ceiling is not None and (maxConnections == 0 or ceiling < maxConnections):
        return ConnectionLimiter(ceiling, BY_DESCRIPTORS)
    if maxConnections:
        return ConnectionLimiter(maxConnections)
    return None
