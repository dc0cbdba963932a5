# -*- test-case-name: tests.test_tap,tests.test_workers -*-
"""
Listening on C{--listen} and C{--admin} descriptions, at once or not at all,
naming what was bound the way an operator reads it, and the grace of
C{--drain-delay} before listening stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure


class StartupError(SystemExit):
    """
    The service cannot start.  twistd lets a L{SystemExit} through, so the
    operator sees this one-line message and a non-zero exit, not a traceback.
    """


def describeAddress(description: str, port: IListeningPort) -> str:
    """
    A listening address as an operator reads it: the kind of endpoint its
    description named, and the address really bound (C{tcp:127.0.0.1:7878},
    C{ssl:127.0.0.1:8443}, C{tcp6:[::1]:7878}, C{unix:/run/hello.sock}).
    """
    kind = description.split(":", 1)[0].lower()
    address: Any = port.getHost()
    host = getattr(address, "host", None)
    if host is not None:
        if ":" in host:
            return f"{'tcp6' if kind == 'tcp' else kind}:[{host}]:{address.port}"
        return f"{kind}:{host}:{address.port}"
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


async def serveBeforeDraining(log: Logger, clock: IReactorTime, delay: float) -> None:
    """
    C{--drain-delay}: once C{/ready} answers 503, keep serving C{delay}
    seconds more, so that load balancers stop sending before any connection
    is refused.
    """
    if delay > 0:
        log.info(
            "not ready: /ready answers 503; serving {delay} s more, then draining",
            delay=delay,
        )
        await deferLater(clock, delay, lambda: None)
