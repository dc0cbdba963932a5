"""
Real TCP on 127.0.0.1 for the end-to-end tests: a running service on a
free port, and a minimal client that sends bytes and collects the answer.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from hello_service.connection.limits import currentDescriptorLimit
from hello_service.processes.service import HelloService
from hello_service.tap import Options, makeService


def reactor() -> Any:
    from twisted.internet import reactor

    return reactor


class Exchange(Protocol):
    """
    Sends C{request} on connect and collects everything until the server
    closes.  L{finished} fires with the bytes and the time of the close.
    """

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.received: list[bytes] = []
        self.finished: Deferred[tuple[bytes, float]] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.request)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.finished.callback((b"".join(self.received), reactor().seconds()))


def exchange(port: int, request: bytes) -> Deferred[tuple[bytes, float]]:
    """
    Connect, send C{request}, and fire with what came back until the server
    closed, with the time it closed.
    """
    endpoint = TCP4ClientEndpoint(reactor(), "127.0.0.1", port)
    client = Exchange(request)
    connected = connectProtocol(endpoint, client)
    return connected.addCallback(lambda _: client.finished)


def startService(test: TestCase, *arguments: str) -> HelloService:
    """
    Start the service as C{twistd hello ARGUMENTS} would, on a free port of
    127.0.0.1, and stop it when the test ends.
    """
    options = Options()
    options.parseOptions(
        ["--listen", "tcp:0:interface=127.0.0.1:backlog=4096", *arguments]
    )
    service = makeService(options)
    assert isinstance(service, HelloService)
    service.descriptorLimit = currentDescriptorLimit  # type: ignore[method-assign]
    service.privilegedStartService()
    service.startService()
    test.addCleanup(service.stopService)
    return service


def portOf(service: HelloService) -> int:
    """
    The port number the service listens on.
    """
    return service.ports[0].getHost().port  # type: ignore[attr-defined,no-any-return]


def closing(path: bytes) -> bytes:
    """
    A request for C{path} that asks the server to close after answering.
    """
    return b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
