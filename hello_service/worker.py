# -*- test-case-name: tests.test_supervisor,tests.system.test_workers -*-
"""
One worker process of C{twistd -n hello --workers N}, started by the
supervisor as C{python -m hello_service.worker --slot 1 --inherit
3:INET:tcp:7878 --settings JSON}.

The supervisor (L{hello_service.supervisor}) binds the listening sockets and
starts each worker with them as inherited descriptors, and with the settings
of its L{Config}; the worker adopts the sockets (L{AdoptedPortEndpoint}) and
serves them exactly as a single C{twistd -n hello} process serves its own.  Its log events go
to the main process as JSON lines on standard output; standard input is a
pipe only the main process writes to, so its end of file means the main
process is gone, and the worker drains and exits as on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from twisted.internet import tcp, unix
from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IReadDescriptor,
    IStreamServerEndpoint,
)
from twisted.internet.task import LoopingCall
from twisted.logger import Logger, globalLogBeginner, jsonFileLogObserver
from twisted.protocols.haproxy import proxyEndpoint
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from hello_service.listening import unwrapped

#: Address families by the names the main process passes them with.
FAMILIES = {"INET": socket.AF_INET, "INET6": socket.AF_INET6, "UNIX": socket.AF_UNIX}

log = Logger(namespace="hello_service.worker")


class _AdoptedUNIXPort(unix.Port):
    """
    A UNIX listening port adopted from the main process.  Twisted shuts a
    UNIX port's socket down and removes its file when it stops listening;
    this one only closes its own descriptor, since the socket belongs to the
    main process and the other workers still serve it.  (Twisted's adopted
    TCP ports already skip the shutdown.  C{tests.test_workers} fails if a
    release changes either.)
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


def parseArguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m hello_service.worker")
    parser.add_argument("--slot", type=int, required=True)
    parser.add_argument(
        "--inherit",
        action="append",
        default=[],
        metavar="FD:FAMILY:DESCRIPTION",
        help="a listening socket inherited as descriptor FD",
    )
    parser.add_argument(
        "--reactor",
        default="",
        metavar="NAME",
        help="the twistd name of the reactor to run on [default: hello's]",
    )
    parser.add_argument(
        "--settings",
        required=True,
        metavar="JSON",
        help="what to serve, from the supervisor's configuration",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parseArguments(sys.argv[1:] if argv is None else argv)
    globalLogBeginner.beginLoggingTo(
        [jsonFileLogObserver(sys.stdout)], redirectStandardIO=False
    )
    # Signals meant for the service (a terminal's Ctrl-C or hang-up, a kill
    # of the process group) go to the main process alone, which decides
    # when each worker stops: a worker is a process group of its own.
    os.setpgrp()

    from hello_service.reactor import installNamed

    installNamed(arguments.reactor)
    from twisted.internet import reactor

    from hello_service.config import Config, Listen
    from hello_service.pages import PageError
    from hello_service.service import buildService
    from hello_service.supervisor import BOOT_ERROR, REPORT_INTERVAL

    reactorAny: Any = reactor
    endpoints: list[Listen] = []

    def bootFailed(reason: str) -> NoReturn:
        # One line, and the status that tells the supervisor not to retry:
        # the next worker would fail the same way.
        sys.stderr.write(f"hello worker {arguments.slot}: {reason}\n")
        sys.stderr.flush()
        os._exit(BOOT_ERROR)

    for inherited in arguments.inherit:
        descriptor, family, description = inherited.split(":", 2)
        try:
            endpoint = adoptedEndpoint(
                reactor, int(descriptor), FAMILIES[family], description
            )
        except Exception as error:  # a key or certificate gone since start-up
            bootFailed(f"cannot serve {description}: {error}")
        endpoints.append((description, endpoint))
    try:
        config = Config.forWorker(
            arguments.settings, tuple(endpoints), (arguments.slot, os.getpid())
        )
        service = buildService(config, reactor)
    except (PageError, OSError) as error:
        bootFailed(
            f"cannot open {error.filename}: {error.strerror}"
            if isinstance(error, OSError)
            else str(error)
        )

    stopping: list[bool] = []

    def stop(*_: object) -> None:
        if not stopping:
            stopping.append(True)
            reactorAny.callFromThread(reactorAny.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    reactorAny.addReader(ParentWatcher(0, stop))

    def report() -> None:
        # Not a log line: the main process keeps it for /metrics.
        log.info("", hello_metrics=service.metricsSnapshot())

    reporting = LoopingCall(report)
    reporting.clock = reactor

    async def stopService() -> None:
        await service.stopService()
        if reporting.running:
            reporting.stop()
        report()  # the last figures, with every drained request

    reactorAny.addSystemEventTrigger(
        "before", "shutdown", lambda: ensureDeferred(stopService())
    )
    service.privilegedStartService()
    service.startService()
    reporting.start(REPORT_INTERVAL, now=False)
    log.info(
        "worker {slot} (pid {pid}) serving",
        slot=arguments.slot,
        pid=os.getpid(),
        hello_worker_ready=True,
    )
    reactorAny.run(installSignalHandlers=False)


if __name__ == "__main__":
    main()
