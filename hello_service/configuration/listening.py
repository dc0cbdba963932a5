# -*- test-case-name: tests.test_listening,tests.system.test_workers -*-
"""
Listening on C{--listen} and C{--admin} descriptions, at once or not at all,
and naming what was bound the way an operator reads it; and binding the
sockets that the workers of C{--workers} serve (L{bindListeners}): a TCP
(or TLS) endpoint is bound once per worker slot with C{SO_REUSEPORT}, so the
kernel spreads new connections evenly across the workers; UNIX and systemd
sockets are shared by all workers.  The main process only binds: each
worker adds the layers the description asks for (TLS, the PROXY protocol)
to the socket it inherits (L{hello_service.processes.adopted.adoptedEndpoint}).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from importlib.util import find_spec
from typing import Any

from twisted.internet.endpoints import (
    SSL4ServerEndpoint,
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
    _WrapperServerEndpoint,
)
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure


class StartupError(SystemExit):
    """
    The service cannot start.  twistd lets a C{SystemExit} through, so the
    operator sees this one-line message and a non-zero exit, not a traceback.
    """


#: The endpoints whose socket the workers of C{--workers} can serve, as the
#: innermost kind of a description: any of them may be wrapped in
#: C{haproxy:} (the PROXY protocol).
WORKER_ENDPOINTS = frozenset({"tcp", "tcp6", "ssl", "unix", "systemd"})

#: The prefix of an endpoint description that wraps another in the PROXY
#: protocol.
PROXY_PREFIX = "haproxy:"


def unwrapped(description: str) -> tuple[int, str]:
    """
    How many C{haproxy:} wrappers a description has, and the description
    of the endpoint inside them (the one that owns the socket).
    """
    wrappers = 0
    while description[: len(PROXY_PREFIX)].lower() == PROXY_PREFIX:
        description = description[len(PROXY_PREFIX) :]
        wrappers += 1
    return wrappers, description


#: What a plain install lacks for C{ssl:} listeners, and how to get it.
TLS_EXTRA = "pip install 'hello-service[tls]'"


def requireTLS(option: str, description: str) -> None:
    """
    Refuse, in one line, a description that serves TLS when pyOpenSSL is
    not installed (it comes with the C{tls} extra, not with a plain
    install): before anything listens, in every mode, rather than in each
    worker as it starts.
    """
    if unwrapped(description)[1][:4].lower() == "ssl:" and find_spec("OpenSSL") is None:
        raise StartupError(
            f"hello: {option} {description}: TLS needs pyOpenSSL, which this "
            f"install lacks: {TLS_EXTRA}"
        )


def endpointKind(description: str) -> str:
    """
    The kind of endpoint a description names, as the start-up line writes
    it: C{tcp}, C{ssl}, C{haproxy:tcp}...
    """
    wrappers, inner = unwrapped(description)
    return PROXY_PREFIX * wrappers + inner.split(":", 1)[0].lower()


def formatAddress(kind: str, host: str, port: int) -> str:
    """
    A network address as the start-up line names it: C{tcp:127.0.0.1:7878},
    or C{tcp6:[::1]:7878} with brackets around an IPv6 host.
    """
    return f"{kind}:[{host}]:{port}" if ":" in host else f"{kind}:{host}:{port}"


def describeAddress(description: str, port: IListeningPort) -> str:
    """
    A listening address as an operator reads it: the kind of endpoint its
    description named, and the address really bound (C{tcp:127.0.0.1:7878},
    C{ssl:127.0.0.1:8443}, C{tcp6:[::1]:7878}, C{unix:/run/hello.sock}).
    """
    kind = endpointKind(description)
    address: Any = port.getHost()
    host = getattr(address, "host", None)
    if host is not None:
        if ":" in host and kind.endswith("tcp"):
            kind += "6"
        return formatAddress(kind, host, address.port)
    name = getattr(address, "name", None)
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return f"{kind}:{name}" if name else str(address)


def listenAll(
    endpoints: Sequence[tuple[str, IStreamServerEndpoint]], factory: IProtocolFactory
) -> list[IListeningPort]:
    """
    Listen on every endpoint, at once: fail (closing what was opened) with
    a one-line L{StartupError} naming the first that cannot listen.
    """
    ports: list[IListeningPort] = []
    for description, endpoint in endpoints:
        results: list[Any] = []
        endpoint.listen(factory).addBoth(results.append)
        if not results or isinstance(results[0], Failure):
            for opened in ports:
                opened.stopListening()
            reason = (
                results[0].getErrorMessage()
                if results
                else "the endpoint did not listen at once"
            )
            raise StartupError(f"hello: cannot listen on {description}: {reason}")
        ports.append(results[0])
    return ports


class _NoAccepting(Factory):
    """
    The factory of the main process's listening ports, which never accept:
    the workers do.
    """

    noisy = False


def tcpEndpointAddress(endpoint: object) -> tuple[str, int, int] | None:
    """
    The interface, port and backlog of a C{tcp:}, C{tcp6:} or C{ssl:}
    endpoint, inside any C{haproxy:} wrappers, or C{None} for any other
    kind.  Twisted keeps them in private attributes (C{tests.test_listening}
    fails loudly if a release renames them).
    """
    while isinstance(endpoint, _WrapperServerEndpoint):
        endpoint = endpoint._wrappedEndpoint
    if not isinstance(
        endpoint, TCP4ServerEndpoint | TCP6ServerEndpoint | SSL4ServerEndpoint
    ):
        return None
    found: tuple[str, int, int] = (
        endpoint._interface,
        endpoint._port,
        endpoint._backlog,
    )
    return found


class Listener:
    """
    One C{--listen} endpoint as the workers get it: the descriptor each
    worker slot serves, bound by the main process, which keeps it open for
    the replacements of that slot's worker.
    """

    description: str
    #: The address family, by the name a worker takes (INET, INET6, UNIX).
    family: str
    #: The address bound, as the start-up line shows it.
    address: str

    def descriptorFor(self, slot: int) -> int:
        raise NotImplementedError()

    def datagramFor(self, slot: int) -> int | None:
        """
        The UDP socket the worker of C{slot} serves HTTP/3 on, beside this
        listener (C{--http3}), if any.
        """
        return None

    def close(self) -> None:
        raise NotImplementedError()


class ReusePortListener(Listener):
    """
    A TCP endpoint served through one socket per worker slot, all bound to
    the same address with C{SO_REUSEPORT}: the kernel spreads new
    connections across the slots evenly, whichever worker is busy.  A
    slot's socket outlives its worker: a replacement (after a crash or on
    SIGHUP) takes over the same socket, so a connection waiting in its queue
    is served, never reset.
    """

    def __init__(
        self,
        description: str,
        slots: int,
        address: tuple[str, int, int],
        datagrams: bool = False,
    ) -> None:
        """
        @param datagrams: also bind a UDP socket per slot on the same
            address, with C{SO_REUSEPORT} too, for HTTP/3 (C{--http3}): the
            kernel spreads QUIC clients across the workers by address, and
            a slot's socket outlives its worker, as the TCP one does.
        """
        interface, port, backlog = address
        # tcp6: listens on "::" unless told otherwise; tcp: and ssl: take
        # an IPv6 interface too.
        family = socket.AF_INET6 if ":" in interface else socket.AF_INET
        self.description = description
        self.family = "INET6" if family == socket.AF_INET6 else "INET"
        self._sockets: dict[int, socket.socket] = {}
        self._datagrams: dict[int, socket.socket] = {}
        try:
            for slot in range(1, slots + 1):
                listening = socket.socket(family, socket.SOCK_STREAM)
                self._sockets[slot] = listening
                listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                listening.bind((interface, port))
                port = listening.getsockname()[1]  # the one tcp:0 chose, for all
                listening.listen(backlog)
                listening.setblocking(False)
            for slot in range(1, slots + 1) if datagrams else ():
                datagram = socket.socket(family, socket.SOCK_DGRAM)
                self._datagrams[slot] = datagram
                datagram.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                datagram.bind((interface, port))
                datagram.setblocking(False)
        except OSError as error:
            self.close()
            raise StartupError(
                f"hello: cannot listen on {description}: {error}"
            ) from None
        host = self._sockets[1].getsockname()[0]
        kind = endpointKind(description)
        if family == socket.AF_INET6 and kind.endswith("tcp"):
            kind += "6"
        self.address = formatAddress(kind, host, port)
        if datagrams:
            self.address += f", udp:{port} (HTTP/3)"

    def descriptorFor(self, slot: int) -> int:
        return self._sockets[slot].fileno()

    def datagramFor(self, slot: int) -> int | None:
        datagram = self._datagrams.get(slot)
        return None if datagram is None else datagram.fileno()

    def close(self) -> None:
        for listening in [*self._sockets.values(), *self._datagrams.values()]:
            listening.close()
        self._sockets = {}
        self._datagrams = {}


class SharedListener(Listener):
    """
    An endpoint served through one socket shared by every worker (UNIX
    sockets, and a socket passed by systemd): the kernel wakes every worker
    for a new connection and the first to run accepts it.
    """

    def __init__(self, description: str, port: IListeningPort) -> None:
        port.stopReading()  # type: ignore[attr-defined]
        self.description = description
        family = port.addressFamily  # type: ignore[attr-defined]
        self.family = {socket.AF_INET: "INET", socket.AF_INET6: "INET6"}.get(
            family, "UNIX"
        )
        self.address = describeAddress(description, port)
        self._port = port

    def descriptorFor(self, slot: int) -> int:
        return self._port.fileno()  # type: ignore[attr-defined,no-any-return]

    def close(self) -> None:
        self._port.stopListening()


def bindListeners(
    endpoints: Sequence[tuple[str, IStreamServerEndpoint]],
    slots: int,
    http3: bool = False,
) -> list[Listener]:
    """
    Bind every endpoint for C{slots} workers, or none: a one-line
    L{StartupError} names the first that cannot listen.  With C{http3},
    each C{ssl:} listener's UDP port is bound too.
    """
    listeners: list[Listener] = []
    try:
        for description, endpoint in endpoints:
            address = tcpEndpointAddress(endpoint)
            if address is not None:
                datagrams = http3 and endpointKind(description) == "ssl"
                listeners.append(
                    ReusePortListener(description, slots, address, datagrams)
                )
            else:
                (port,) = listenAll([(description, endpoint)], _NoAccepting())
                listeners.append(SharedListener(description, port))
    except StartupError:
        closeAll(listeners)
        raise
    return listeners


def closeAll(listeners: Sequence[Listener]) -> None:
    """Close every listener's sockets (the supervisor stops serving)."""
    for listener in listeners:
        listener.close()
