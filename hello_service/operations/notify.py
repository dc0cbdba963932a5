# -*- test-case-name: tests.test_notify,tests.system.test_notify -*-
"""
systemd's C{Type=notify}: the service tells its service manager where it
is, over the datagram socket C{$NOTIFY_SOCKET} names (the C{sd_notify}
protocol: lines of C{KEY=value} in one datagram).

  - C{READY=1} once the service serves (with C{--workers}: every worker);
  - C{RELOADING=1} with C{MONOTONIC_USEC=} when SIGHUP begins a reload or a
    rolling restart, and C{READY=1} again when it ends;
  - C{STOPPING=1} when the drain begins;
  - C{STATUS=} lines, which C{systemctl status} shows: what serves, the
    requests per second and the connections open, every few seconds;
  - C{WATCHDOG=1} from the main process's reactor at half of
    C{$WATCHDOG_USEC}, so that systemd restarts a main process whose
    reactor is stuck (C{WatchdogSec=} in the unit).

Without C{$NOTIFY_SOCKET} nothing is sent and nothing runs.  The protocol is
one C{sendto} per message; no library is needed for it.  A message that
cannot be sent is said once in the log and never stops the service.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from hello_service.http.counting import Figures, answeredTotal
from hello_service.operations.lognames import NamedLogger

#: The variables systemd sets for the main process: they are not passed on
#: to the workers, which must not speak for the service.
NOTIFY_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")

#: How often the C{STATUS=} line is renewed, in seconds.
STATUS_INTERVAL = 5.0


def statusLine(serving: str, figures: Figures, perSecond: float) -> str:
    """
    The C{STATUS=} text: what serves, the requests per second, the
    connections open.
    """
    gauges = figures.get("gauges", {})
    return (
        f"{serving}; {perSecond:,.0f} requests/s; "
        f"{gauges.get('hello_connections_open', 0):,} connections open"
    )


class RequestRate:
    """
    Requests per second between one look at the service's answer count and
    the next.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._last: tuple[float, int] | None = None

    def update(self, figures: Figures) -> float:
        answered = answeredTotal(figures)
        now = self._clock.seconds()
        last, self._last = self._last, (now, answered)
        if last is None or now <= last[0]:
            return 0.0
        return max(0, answered - last[1]) / (now - last[0])


class ServiceManager:
    """
    The service manager, as the service tells it where it is: systemd's
    C{$NOTIFY_SOCKET}, or nobody (L{fromEnvironment} without it).
    """

    log = NamedLogger("hello_service.notify.ServiceManager")

    def __init__(
        self,
        address: str | None,
        clock: IReactorTime,
        watchdogInterval: float | None = None,
    ) -> None:
        """
        @param address: the notify socket's path (C{@} first for an abstract
            one), or C{None}: nothing is sent.
        @param watchdogInterval: the seconds between C{WATCHDOG=1} messages
            (half of systemd's C{WatchdogSec=}), or C{None} for none.
        """
        self.address = address
        self._clock = clock
        self._watchdogInterval = watchdogInterval
        self._socket: socket.socket | None = None
        self._warned = False
        self._loops: list[LoopingCall] = []
        self._describe: Callable[[], str] | None = None

    @classmethod
    def fromEnvironment(
        cls, environ: Mapping[str, str], clock: IReactorTime
    ) -> ServiceManager:
        """
        The service manager systemd's variables name: C{$NOTIFY_SOCKET},
        and C{$WATCHDOG_USEC} when C{$WATCHDOG_PID} is unset or this
        process's.
        """
        address = environ.get("NOTIFY_SOCKET") or None
        interval = None
        watchdog = environ.get("WATCHDOG_USEC", "")
        forPid = environ.get("WATCHDOG_PID", "")
        if address and watchdog.isdigit() and int(watchdog) > 0:
            if not forPid or forPid == str(os.getpid()):
                interval = int(watchdog) / 2 / 1e6
        return cls(address, clock, interval)

    @property
    def listening(self) -> bool:
        """
        Whether a service manager listens (C{$NOTIFY_SOCKET} was set).
        """
        return self.address is not None

    def start(self, describe: Callable[[], str]) -> None:
        """
        Start the watchdog messages, and the C{STATUS=} line that
        C{describe} gives every L{STATUS_INTERVAL} seconds.
        """
        if not self.listening:
            return
        self._describe = describe
        loops = [(STATUS_INTERVAL, self._renewStatus)]
        if self._watchdogInterval is not None:
            loops.append((self._watchdogInterval, self.watchdog))
        for interval, action in loops:
            loop = LoopingCall(action)
            loop.clock = self._clock
            loop.start(interval, now=False)
            self._loops.append(loop)

    def stop(self) -> None:
        """
        Stop the periodic messages and close the socket.
        """
        loops, self._loops = self._loops, []
        for loop in loops:
            if loop.running:
                loop.stop()
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def ready(self) -> None:
        """
        The service serves (again, after a reload).
        """
        self._send(READY="1", STATUS=self._status())

    def reloading(self) -> None:
        """
        A reload began; L{ready} says when it ended.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(RELOADING="1", MONOTONIC_USEC=str(usec))

    def stopping(self, why: str = "draining") -> None:
        """
        The service stops: the drain begins.
        """
        self._send(STOPPING="1", STATUS=why)

    def watchdog(self) -> None:
        """
        The reactor runs: systemd's watchdog need not restart the service.
        """
        self._send(WATCHDOG="1")

    def _renewStatus(self) -> None:
        self._send(STATUS=self._status())

    def _status(self) -> str:
        return "" if self._describe is None else self._describe()

    def _send(self, **fields: str) -> None:
        if self.address is None:
            return
        message = "".join(
            f"{key}={value}\n" for key, value in fields.items() if value
        ).encode("utf-8", "replace")
        address = self.address
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(message, address)
        except OSError as error:
            if not self._warned:
                self._warned = True
                self.log.warn(
                    "cannot tell the service manager at {address}: {error}",
                    address=self.address,
                    error=error.strerror or error,
                )
