# -*- test-case-name: tests.test_deadlines -*-
"""
How long a client may take, and the one timer per connection that holds it
to that.

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


class DeadlineTimer:
    """
    One connection's single timer: the L{Deadline} it waits for, when that
    is due, and the one C{IDelayedCall} that checks it.

    The delayed call is moved only when a deadline comes sooner than the one
    it waits for; on the keep-alive path a request only stores a new due
    time, and the call, when it fires, finds the deadline later and waits
    again.  While the client is not reading (L{hold}) only the write
    deadline applies: other deadlines are neither set nor cleared until
    L{release}.
    """

    __slots__ = ("_clock", "_timeouts", "_owner", "_call", "_due", "kind", "_held")

    def __init__(
        self, clock: IReactorTime, timeouts: Timeouts, owner: DeadlineOwner
    ) -> None:
        """
        @param owner: told when a deadline passes.  (An object rather than a
            callback: a bound method would be one more object per
            connection.)
        """
        self._clock = clock
        self._timeouts = timeouts
        self._owner = owner
        self._call: IDelayedCall | None = None
        self._due = 0.0
        self._held = False
        #: What the connection waits for now.
        self.kind = _NONE

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
            if kind is _IDLE and self._call is not None:
                # The keep-alive path: a later idle deadline never needs the
                # call moved, just a new time to check against.
                self._due = self._clock.seconds() + self._timeouts.idle
                return
            if kind is _HEADER and not restart:
                return
            if kind is _DRAIN:
                return  # the grace counts from when the drain began
        delay = self._timeouts.of(kind)
        clock = self._clock
        due = clock.seconds() + delay
        self._due = due
        self.kind = kind
        call = self._call
        if call is None:
            self._call = clock.callLater(delay, self._check)
        elif due < call.getTime():
            call.reset(delay)

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
        The connection is gone: no call is left behind.
        """
        self.kind = _NONE
        self._held = False
        if self._call is not None:
            self._call.cancel()
            self._call = None

    def _check(self) -> None:
        self._call = None
        kind = self.kind
        if kind is _NONE:
            return
        clock = self._clock
        remaining = self._due - clock.seconds()
        if remaining > 0:
            self._call = clock.callLater(remaining, self._check)
            return
        self.kind = _NONE
        self._owner.deadlinePassed(kind)
