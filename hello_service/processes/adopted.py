# -*- test-case-name: tests.system.test_workers,tests.test_handoff -*-
"""
Serving sockets inherited from the supervisor of C{--workers}: a worker
adopts each listening socket the main process bound
(L{AdoptedPortEndpoint}), adds the layers its C{--listen} description asks
for (L{adoptedEndpoint}: the TLS of C{ssl:}, the PROXY protocol of
C{haproxy:}), and watches the pipe that tells it the main process is gone
(L{ParentWatcher}).

Nothing here imports pyOpenSSL unless an C{ssl:} socket is served: a plain
install (no C{tls} extra) serves C{tcp:}, C{unix:} and C{systemd:} sockets.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet import tcp, unix
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IReadDescriptor,
    IStreamServerEndpoint,
)
from twisted.protocols.haproxy import proxyEndpoint
from twisted.python.failure import Failure
from zope.interface import implementer

from hello_service.configuration.listening import unwrapped


class _AdoptedUNIXPort(unix.Port):
    """
    A UNIX listening port adopted from the main process.  Twisted shuts a
    UNIX port's socket down and removes its file when it stops listening;
    this one only closes its own descriptor, since the socket belongs to the
    main process and the other workers still serve it.  (Twisted's adopted
    TCP ports already skip the shutdown.  C{tests.system.test_workers} fails
    if a release changes either.)
    """

    _shouldShutdown = False

    def connectionLost(self, reason: Failure) -> None:
        tcp.Port.connectionLost(self, reason)


@implementer(IStreamServerEndpoint)
class AdoptedPortEndpoint:
    """
    An endpoint whose listening socket is an inherited descriptor.  The
    descriptor is closed once adopted (the port holds its own duplicate).
    """

    def __init__(self, reactor: Any, descriptor: int, family: int) -> None:
        self._reactor = reactor
        self._descriptor = descriptor
        self._family = family

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        os.set_blocking(self._descriptor, False)
        try:
            if self._family == socket.AF_UNIX:
                port = _AdoptedUNIXPort._fromListeningDescriptor(  # type: ignore[no-untyped-call]
                    self._reactor, self._descriptor, factory
                )
                port.startListening()
            else:
                port = self._reactor.adoptStreamPort(
                    self._descriptor, self._family, factory
                )
        finally:
            os.close(self._descriptor)
        return succeed(port)


class _AdoptingReactor:
    """
    What an C{ssl:} endpoint parsed in a worker listens with: its
    C{listenSSL} serves the inherited socket, with TLS as Twisted's own
    C{listenSSL} adds it (a C{TLSMemoryBIOFactory} around the factory), so
    the worker reads the key and certificate exactly as one process does.
    """

    def __init__(self, adopted: AdoptedPortEndpoint) -> None:
        self._adopted = adopted

    def listenSSL(
        self,
        port: int,
        factory: IProtocolFactory,
        contextFactory: Any,
        backlog: int = 50,
        interface: str = "",
    ) -> IListeningPort:
        # Imported here, not by the module: pyOpenSSL comes with the tls
        # extra only, and only an ssl: listener needs it.
        from twisted.protocols.tls import TLSMemoryBIOFactory

        listening: list[IListeningPort] = []
        self._adopted.listen(
            TLSMemoryBIOFactory(contextFactory, False, factory)
        ).addCallback(listening.append)
        return listening[0]


def adoptedEndpoint(
    reactor: Any, descriptor: int, family: int, description: str
) -> IStreamServerEndpoint:
    """
    The endpoint a worker serves an inherited socket with: the layers its
    C{--listen} description asks for (the PROXY protocol of C{haproxy:},
    the TLS of C{ssl:}) around the adopted socket.
    """
    wrappers, inner = unwrapped(description)
    adopted = AdoptedPortEndpoint(reactor, descriptor, family)
    endpoint: IStreamServerEndpoint = (
        serverFromString(_AdoptingReactor(adopted), inner)
        if inner[:4].lower() == "ssl:"
        else adopted
    )
    for _ in range(wrappers):
        endpoint = proxyEndpoint(endpoint)
    return endpoint


@implementer(IReadDescriptor)
class ParentWatcher:
    """
    Reads the pipe only the main process writes to: its end of file means
    the main process is gone.
    """

    def __init__(self, descriptor: int, gone: Any) -> None:
        self._descriptor = descriptor
        self._gone = gone
        os.set_blocking(descriptor, False)

    def fileno(self) -> int:
        return self._descriptor

    def logPrefix(self) -> str:
        return "ParentWatcher"

    def doRead(self) -> None:
        try:
            data = os.read(self._descriptor, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._gone()

    def connectionLost(self, reason: Failure) -> None:
        """
        The pipe hung up (the reactor reports a bare hang-up this way rather
        than as a read of nothing): the main process is gone too.
        """
        self._gone()
