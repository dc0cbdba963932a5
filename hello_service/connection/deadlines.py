# -*- test-case-name: tests.test_deadlines -*-
"""
How long a client may take, and the timers that hold it to that: one
L{DeadlineTimer} per connection, all of a factory's in one L{DeadlineQueue}
checked by one delayed call.

A connection waits for its client in one way at a time: to start a request
(L{Deadline.IDLE}), to finish one (L{Deadline.HEADER}), to read what we
wrote (L{Deadline.WRITE}), to close after a refusal (L{Deadline.LINGER}),
or, while the service drains, to send the request it may already be
sending (L{Deadline.DRAIN}).  Each has one name, from the command line's
C{--idle-timeout} and C{--header-timeout} to L{Timeouts} and L{Deadline}.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall, IReactorTime


class Deadline(Enum):
    """
    What a connection is waiting for its client to do.  The value names the
    L{Timeouts} field that bounds it.
    """

    #: Nothing: a request is being answered, and the client owes nothing.
    NONE = ""
    #: Start the next request on a persistent connection.
    IDLE = "idle"
    #: Finish the request begun (head and body), counted from its first byte.
    HEADER = "header"
    #: Read the response it is not reading.
    WRITE = "write"
    #: Close its side after we refused its input.
    LINGER = "linger"
    #: The service drains: send the request it may be sending already, or
    #: be closed.
    DRAIN = "drain"


# The members the timer compares against on every request, as module
# globals: a global is found faster than an attribute of the Enum class.
_NONE = Deadline.NONE
_IDLE = Deadline.IDLE
_HEADER = Deadline.HEADER
_WRITE = Deadline.WRITE
_DRAIN = Deadline.DRAIN


_FIELDS = {deadline: deadline.value for deadline in Deadline}


@dataclass(frozen=True)
class Timeouts:
    """
    How long a client may take, in seconds, for each L{Deadline}.

    @ivar header: to send a whole request (head and any body), counted from
        its first byte (C{--header-timeout}).
    @ivar idle: to start the next request on a persistent connection
        (C{--idle-timeout}).
    @ivar write: to take a response it is not reading (C{--write-timeout}).
    @ivar linger: to close its side after we refused its input; until then
        what it still sends is read and dropped, so that the refusal reaches
        it instead of a reset.
    @ivar drain: once the service drains, how long an idle persistent
        connection is kept open for a request its client may already be
        sending: closing it at once would cross that request on the wire,
        and a client that does not retry would lose it.  One that arrives is
        answered, with C{Connection: close}.  A second is far longer than a
        request takes to cross a network, and short enough not to slow a
        stop (the shutdown timeout bounds it anyway).
    """

    header: float = 10.0
    idle: float = 15.0
    write: float = 30.0
    linger: float = 2.0
    drain: float = 1.0

    def of(self, deadline: Deadline) -> float:
        """
        The seconds allowed for C{deadline}.
        """
        # By the member's name, not its value: Enum.value is a property, and
        # this runs twice per connection.
        seconds: float = getattr(self, _FIELDS[deadline])
        return seconds


DEFAULT_TIMEOUTS = Timeouts()


class DeadlineOwner(Protocol):
    """
    What a L{DeadlineTimer} tells when a deadline passes.
    """

    def deadlinePassed(self, deadline: Deadline) -> None: ...


class _Gone:
    """
    The owner of a cancelled timer: its connection is gone, and nothing is
    told.
    """

    def deadlinePassed(self, deadline: Deadline) -> None:
        pass


_GONE = _Gone()

#: Stale entries a queue keeps before it sweeps them out (and only once
#: they are half of it): sweeping is a pass over the whole heap.
_SWEEP_AFTER = 50


class DeadlineQueue:
    """
    Every connection's next deadline, in one heap of C{(due, timer)}
    entries checked by one C{IDelayedCall}, for the earliest: a connection
    costs an entry in a list, not a C{DelayedCall} of its own (an object,
    three bound methods and a heap entry of the reactor's), and arming or
    moving its deadline costs a push, not a call into the reactor.

    An entry a timer no longer waits for (it moved its deadline sooner, or
    its connection closed) is stale: it is dropped when it comes due, or
    swept out once stale entries are many and half the heap, or all of it
    (then the delayed call is cancelled too: a server with no connection
    leaves no call pending).
    """

    __slots__ = ("clock", "_heap", "_call", "_at", "_stale")

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self._heap: list[tuple[float, DeadlineTimer]] = []
        self._call: IDelayedCall | None = None
        #: When the delayed call fires.
        self._at = 0.0
        self._stale = 0

    def __len__(self) -> int:
        """
        The entries queued, stale ones included.
        """
        return len(self._heap)

    def add(self, due: float, timer: DeadlineTimer) -> None:
        """
        Have C{timer} checked at C{due}.
        """
        heappush(self._heap, (due, timer))
        self._arm(due)

    def _arm(self, due: float) -> None:
        """
        Have the delayed call fire at C{due}, if it is set for later.
        """
        call = self._call
        if call is None:
            self._call = self.clock.callLater(
                max(0.0, due - self.clock.seconds()), self._fire
            )
            self._at = due
        elif due < self._at:
            call.reset(max(0.0, due - self.clock.seconds()))
            self._at = due

    def discarded(self) -> None:
        """
        An entry went stale: sweep if they are many enough.
        """
        self._stale = stale = self._stale + 1
        heap = self._heap
        if stale == len(heap):
            heap.clear()
            self._stale = 0
            if self._call is not None:
                self._call.cancel()
                self._call = None
        elif stale > _SWEEP_AFTER and stale * 2 > len(heap):
            heap[:] = [entry for entry in heap if entry[1]._queued == entry[0]]
            heapify(heap)
            self._stale = 0

    def _fire(self) -> None:
        self._call = None
        clock = self.clock
        # What was due when the call was set is due now, whatever the
        # rounding of the clock's arithmetic.
        now = max(clock.seconds(), self._at)
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, timer = heappop(heap)
            if timer._queued == due:
                timer._expire(now)
            else:
                self._stale -= 1
        if heap:
            self._arm(heap[0][0])


class DeadlineTimer:
    """
    One connection's deadline: the L{Deadline} it waits for and when that
    is due, checked by the factory's L{DeadlineQueue}.

    Its entry in the queue is moved only when a deadline comes sooner than
    the one queued; on the keep-alive path a request only stores a new due
    time, and the entry, when it comes due, finds the deadline later and is
    queued again for it.  While the client is not reading (L{hold}) only the
    write deadline applies: other deadlines are neither set nor cleared
    until L{release}.
    """

    __slots__ = ("_queue", "_timeouts", "_owner", "_due", "_queued", "kind", "_held")

    def __init__(
        self, queue: DeadlineQueue, timeouts: Timeouts, owner: DeadlineOwner
    ) -> None:
        """
        @param owner: told when a deadline passes.  (An object rather than a
            callback: a bound method would be one more object per
            connection.)
        """
        self._queue = queue
        self._timeouts = timeouts
        self._owner = owner
        self._due = 0.0
        #: When its entry in the queue comes due, if it has one.
        self._queued: float | None = None
        self._held = False
        #: What the connection waits for now.
        self.kind = _NONE

    def __lt__(self, other: DeadlineTimer) -> bool:
        """
        Any order, for two entries due at the same time.
        """
        return id(self) < id(other)

    def start(self, kind: Deadline, restart: bool = False) -> None:
        """
        Wait for C{kind}, due its timeout from now.  A header deadline
        already running keeps its time (a request's time counts from its
        first byte) unless C{restart}: a request just completed and the next
        has begun.
        """
        if self._held and kind is not _WRITE:
            return
        if kind is self.kind:
            if kind is _IDLE and self._queued is not None:
                # The keep-alive path: a later idle deadline never needs the
                # entry moved, just a new time to check against.
                self._due = self._queue.clock.seconds() + self._timeouts.idle
                return
            if kind is _HEADER and not restart:
                return
            if kind is _DRAIN:
                return  # the grace counts from when the drain began
        queue = self._queue
        due = queue.clock.seconds() + self._timeouts.of(kind)
        self._due = due
        self.kind = kind
        queued = self._queued
        if queued is None or due < queued:
            if queued is not None:
                queue.discarded()
            self._queued = due
            queue.add(due, self)

    def stop(self) -> None:
        """
        Wait for nothing: a request is being answered.
        """
        if not self._held:
            self.kind = _NONE

    def hold(self) -> None:
        """
        The client stopped reading: wait for it to read, and only for that,
        until L{release}.
        """
        self._held = False
        self.start(_WRITE)
        self._held = True

    def release(self) -> None:
        """
        The client reads again: other deadlines apply again (the write
        deadline stays until one replaces it).
        """
        self._held = False

    def cancel(self) -> None:
        """
        The connection is gone: its entry, if any, is stale, and the timer
        lets go of the connection (a stale entry may keep the timer in the
        queue a while; it must not keep the connection too).
        """
        self.kind = _NONE
        self._held = False
        self._owner = _GONE
        if self._queued is not None:
            self._queued = None
            self._queue.discarded()

    def _expire(self, now: float) -> None:
        """
        Its entry came due: the deadline passed, or it moved later (queue it
        again), or it waits for nothing now.
        """
        self._queued = None
        kind = self.kind
        if kind is _NONE:
            return
        due = self._due
        if due > now:
            self._queued = due
            self._queue.add(due, self)
            return
        self.kind = _NONE
        self._owner.deadlinePassed(kind)
