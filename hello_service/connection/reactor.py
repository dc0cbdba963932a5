# -*- test-case-name: tests.test_reactor,tests.system.test_reactors -*-
"""
hello's reactor: Twisted's epoll reactor, dispatching each read and write
event without building a logging context for it.

Twisted's C{EPollReactor.doPoll} calls every event's handler through
C{log.callWithLogger}, which asks the selectable for its C{logPrefix()}
and pushes a context dictionary around the call, so that an error logged
while handling the event names the connection it happened on.  That costs a
fifth to a third of a small request's time, for errors that almost never
happen.  Twisted's tracker has had the issue open since 2007
(twisted/twisted#2534), with remedies suggested: pre-built context
dictionaries, C{logPrefix} once per selectable, going straight to the call.

Its TCP ports (listened on, or adopted from a supervisor or systemd) make
each connection a L{hello_service.connection.transport.HelloServer}: Twisted's
transport with less work per connection.

This reactor goes straight to the call and asks for the prefix only when
something fails: an exception from a handler, or from disconnecting a
selectable, is logged with the selectable's prefix as its C{system}, as
under Twisted's reactor.  L{HelloEPollReactor._doReadOrWrite} is Twisted's
C{_PollLikeMixin._doReadOrWrite} with that one change (the order of read and
write, a hang-up only after the last read, a descriptor closed underneath:
all as Twisted decides them; C{tests.test_reactor} checks each).

It is registered as the twistd reactor C{hello} (C{twistd -r hello}), and
C{twistd -n hello} installs it unless a reactor was named (C{twistd -r
epoll -n hello} runs on Twisted's own): see L{hello_service.tap}.  Where
epoll does not exist (macOS, the BSDs), hello runs on Twisted's default
reactor.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet.error import ConnectionFdescWentAway
from twisted.internet.main import CONNECTION_DONE, CONNECTION_LOST
from twisted.python import log

try:
    from twisted.internet.epollreactor import EPollReactor
except ImportError:  # no epoll on this system
    EPollReactor = None  # type: ignore[assignment,misc]

#: The twistd name of this reactor.
NAME = "hello"

#: Why a selectable whose descriptor is gone is disconnected.
_NO_FILEDESC = ConnectionFdescWentAway("File descriptor lost")


def logPrefixOf(selectable: Any) -> str:
    """
    The prefix an error of C{selectable} is logged with: its own, as
    C{log.callWithLogger} asks for it.
    """
    try:
        return str(selectable.logPrefix())
    except Exception:
        return "(buggy logPrefix method)"


if EPollReactor is not None:

    class HelloEPollReactor(EPollReactor):
        """
        An epoll reactor whose events go straight to their handlers.
        """

        def doPoll(self, timeout: float | None) -> None:
            """
            Poll for events and handle each, as Twisted's C{doPoll} does
            but for the logging context around each.
            """
            if timeout is None:
                timeout = -1
            selectables = self._selectables
            try:
                events = self._poller.poll(timeout, len(selectables))
            except InterruptedError:
                return
            handle = self._doReadOrWrite
            for fd, event in events:
                selectable = selectables.get(fd)
                if selectable is None:
                    continue
                try:
                    handle(selectable, fd, event)
                except KeyboardInterrupt:
                    raise
                except BaseException:
                    # What callWithLogger caught: an error while
                    # disconnecting the selectable (its connectionLost).
                    log.err(system=logPrefixOf(selectable))

        doIteration = doPoll

        def listenTCP(
            self, port: int, factory: Any, backlog: int = 50, interface: str = ""
        ) -> Any:
            """
            Listen as Twisted's reactor does, with hello's lighter transport
            for each connection (L{hello_service.connection.transport}).
            """
            from hello_service.connection.transport import HelloPort

            listening = HelloPort(port, factory, backlog, interface, self)
            listening.startListening()
            return listening

        def adoptStreamPort(
            self, fileDescriptor: int, addressFamily: int, factory: Any
        ) -> Any:
            """
            Adopt a listening socket (a worker's, systemd's) as Twisted's
            reactor does; a TCP one gets hello's lighter transport.
            """
            if addressFamily not in (socket.AF_INET, socket.AF_INET6):
                return super().adoptStreamPort(  # type: ignore[no-untyped-call]
                    fileDescriptor, addressFamily, factory
                )
            from hello_service.connection.transport import HelloPort

            listening = HelloPort._fromListeningDescriptor(  # type: ignore[no-untyped-call]
                self, fileDescriptor, addressFamily, factory
            )
            listening.startListening()
            return listening

        def forget(self, selectable: Any) -> None:
            """
            Watch C{selectable} for neither reading nor writing:
            C{removeReader} and C{removeWriter} in one step, for a
            connection about to close (L{hello_service.connection.transport}).
            """
            fd = selectable.fileno()
            reads, writes = self._reads, self._writes
            if fd not in reads and fd not in writes:
                return
            reads.discard(fd)
            writes.discard(fd)
            del self._selectables[fd]
            self._poller.unregister(fd)

        def _doReadOrWrite(self, selectable: Any, fd: int, event: int) -> None:
            """
            Read or write as C{event} says, and disconnect the selectable if
            that ended it: Twisted's logic, with an error logged under the
            selectable's prefix.
            """
            why: Any = None
            inRead = False
            if event & self._POLL_DISCONNECTED and not (event & self._POLL_IN):
                # A hang-up, once all pending input is read: clean if we
                # were reading (perhaps a half-close), an error if not.
                if fd in self._reads:
                    inRead = True
                    why = CONNECTION_DONE
                else:
                    why = CONNECTION_LOST
            else:
                try:
                    if selectable.fileno() == -1:
                        why = _NO_FILEDESC
                    else:
                        if event & self._POLL_IN:
                            why = selectable.doRead()
                            inRead = True
                        if not why and event & self._POLL_OUT:
                            why = selectable.doWrite()
                            inRead = False
                except BaseException as error:
                    # An application's error disconnects its selectable.
                    why = error
                    log.err(system=logPrefixOf(selectable))
            if why:
                self._disconnectSelectable(selectable, why, inRead)  # type: ignore[no-untyped-call]


def reactorName(reactor: object) -> str:
    """
    The twistd name of C{reactor} (C{hello}, C{epoll}...), for the workers
    to run on the reactor the main process runs on; C{""} for one twistd
    does not know (a test's fake).
    """
    if EPollReactor is not None and isinstance(reactor, HelloEPollReactor):
        return NAME
    from twisted.application.reactors import getReactorTypes

    module = type(reactor).__module__
    for installer in getReactorTypes():
        if (
            getattr(installer, "moduleName", None) == module
            and installer.shortName != NAME
        ):
            return str(installer.shortName)
    return ""


def installNamed(name: str) -> None:
    """
    Install the reactor twistd knows as C{name}; hello's for C{""}.
    """
    if name in ("", NAME):
        install()
    else:
        from twisted.application.reactors import installReactor

        installReactor(name)


def install() -> None:
    """
    Install hello's reactor, or Twisted's default where there is no epoll.
    """
    if EPollReactor is None:
        from twisted.internet import default

        default.install()
        return
    from twisted.internet.main import installReactor

    installReactor(HelloEPollReactor())  # type: ignore[no-untyped-call]
