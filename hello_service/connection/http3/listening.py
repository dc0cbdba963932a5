# -*- test-case-name: tests.test_http3,tests.system.test_http3 -*-
"""
HTTP/3 beside each C{ssl:} listener (C{--http3}): a UDP port with the same
number and interface, carrying QUIC (L{QuicEndpoint}), and the C{Alt-Svc}
that the TCP port's answers carry to say so.

In one process the UDP socket is bound here; a worker of C{--workers}
adopts the one its supervisor bound for its slot (with C{SO_REUSEPORT},
one per slot, as the TCP sockets are).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import DeferredList, maybeDeferred

from hello_service.connection.http3.endpoint import QuicEndpoint
from hello_service.connection.http3.settings import HTTP3Settings

if TYPE_CHECKING:
    from hello_service.connection.protocol import HelloFactory


class QuicListeners:
    """
    The UDP ports of a service's HTTP/3, and their endpoints.
    """

    def __init__(
        self,
        factory: HelloFactory,
        settings: HTTP3Settings,
        reactor: Any,
        worker: int | None,
    ) -> None:
        self._factory = factory
        self._settings = settings
        self._reactor = reactor
        self._worker = worker
        self.endpoints: list[QuicEndpoint] = []
        self._ports: list[Any] = []

    def listen(
        self,
        tcpAddress: Any,
        credentials: Callable[[], tuple[Any, Any, list[Any]]],
        adopted: tuple[int, int] | None = None,
    ) -> None:
        """
        Serve HTTP/3 on the UDP port of the TCP address C{tcpAddress}: the
        socket C{adopted} (descriptor and family) if the supervisor bound
        it, else one bound here.
        """
        endpoint = QuicEndpoint(
            self._factory, self._settings, credentials, self._worker
        )
        if adopted is not None:
            port = self._reactor.adoptDatagramPort(adopted[0], adopted[1], endpoint)
        else:
            port = self._reactor.listenUDP(
                tcpAddress.port, endpoint, interface=tcpAddress.host
            )
        self.endpoints.append(endpoint)
        self._ports.append(port)
        self._factory.altSvc[tcpAddress.port] = b'h3=":%d"; ma=%d' % (
            tcpAddress.port,
            self._settings.altSvcMaxAge,
        )

    def described(self) -> str:
        """The UDP ports, for the start-up line."""
        return ", ".join(f"udp:{port.getHost().port} (HTTP/3)" for port in self._ports)

    def closeToNew(self) -> None:
        """The service drains: no new QUIC connection is let in."""
        for endpoint in self.endpoints:
            endpoint.closedToNew = True

    async def stopListening(self) -> None:
        """Close the UDP ports, once their connections are done."""
        ports, self._ports = self._ports, []
        await DeferredList([maybeDeferred(port.stopListening) for port in ports])
