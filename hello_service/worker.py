# -*- test-case-name: tests.test_handoff,tests.system.test_workers -*-
"""
One worker process of C{twistd -n hello --workers N}, started by the
supervisor with the command line L{hello_service.processes.handoff.WorkerArguments}
makes.

The worker adopts the sockets it inherited (L{hello_service.processes.adopted}) and
serves them exactly as a single C{twistd -n hello} process serves its own,
with the settings the supervisor sent.  Its log events go to the main
process as JSON lines on standard output; standard input is a pipe only the
main process writes to, so its end of file means the main process is gone,
and the worker drains and exits as on SIGTERM.

Whatever stops a worker before it serves (a module it cannot import, a page
directory it cannot read, a socket it cannot adopt) is said in one line on
its standard error, and the worker exits with
L{hello_service.processes.handoff.BOOT_ERROR}: the supervisor then ends the whole
start with that line.  This module imports only the standard library at
the top, so that even an import that fails is caught and said that way.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn


def bootFailed(reason: str, status: int) -> NoReturn:
    """
    Say why this worker cannot start, in one line, and exit with C{status}
    (the boot error, which tells the supervisor not to retry: the next
    worker would fail the same way).
    """
    sys.stderr.write(reason.replace("\n", " ") + "\n")
    sys.stderr.flush()
    os._exit(status)


def describeError(error: BaseException) -> str:
    """
    An exception as the one line that says why: a file that cannot be
    opened by its name, anything else as a traceback's last line.
    """
    if isinstance(error, OSError) and error.filename is not None:
        return f"cannot open {error.filename}: {error.strerror}"
    # By name: their classes are imported inside the guard this runs from,
    # and may be what failed to import.
    if type(error).__name__ in ("PageError", "BootError"):
        return str(error)
    return f"{type(error).__name__}: {error}"


def main(argv: Sequence[str] | None = None) -> None:
    # Signals meant for the service (a terminal's Ctrl-C or hang-up, a kill
    # of the process group) go to the main process alone, which decides
    # when each worker stops: a worker is a process group of its own.
    os.setpgrp()
    try:
        from hello_service.processes.handoff import BOOT_ERROR, STACKS_SIGNAL
    except BaseException as error:  # the package itself is broken
        bootFailed(describeError(error), 3)
    # Where a hung worker hung, on request (and where a crashing one
    # crashed): every thread's stack on standard error, written by the
    # interpreter's own signal handler, so even a stuck reactor answers.
    faulthandler.enable()
    faulthandler.register(STACKS_SIGNAL, all_threads=True)
    try:
        serve = _prepare(sys.argv[1:] if argv is None else argv)
    except SystemExit:
        raise
    except BaseException as error:
        bootFailed(describeError(error), BOOT_ERROR)
    serve()


def _prepare(argv: Sequence[str]) -> Any:
    """
    Everything up to serving: parse the command line, install the reactor,
    build and start the service on the inherited sockets.  Returns what
    runs the reactor; raises whatever stops the start.
    """
    from twisted.internet.defer import ensureDeferred
    from twisted.internet.task import LoopingCall
    from twisted.logger import Logger, globalLogBeginner, jsonFileLogObserver

    from hello_service.connection.reactor import installNamed
    from hello_service.processes.handoff import (
        FIGURES,
        PARENT_PIPE,
        READY,
        REPORT_INTERVAL,
        BootError,
        WorkerArguments,
        decodeSettings,
        reactorOf,
    )

    arguments = WorkerArguments.parse(argv)
    globalLogBeginner.beginLoggingTo(
        [jsonFileLogObserver(sys.stdout)], redirectStandardIO=False
    )
    installNamed(reactorOf(arguments.settings))
    from twisted.internet import reactor

    from hello_service.configuration.config import Config
    from hello_service.processes.adopted import ParentWatcher, adoptedEndpoint
    from hello_service.processes.service import buildService

    log = Logger(namespace="hello_service.worker")
    reactorAny: Any = reactor
    endpoints = []
    for inherited in arguments.inherited:
        try:
            endpoint = adoptedEndpoint(
                reactor,
                inherited.descriptor,
                inherited.addressFamily,
                inherited.description,
            )
        except Exception as error:  # a key or certificate gone since start-up
            raise BootError(f"cannot serve {inherited.description}: {error}") from None
        endpoints.append((inherited.description, endpoint))
    certificates = []
    for datagram in arguments.datagrams:
        # HTTP/3 presents the certificate the TLS listener beside it does.
        from hello_service.configuration.certificates import ReloadableCertificate

        try:
            certificates.append(ReloadableCertificate(datagram.description))
        except Exception as error:
            raise BootError(f"cannot serve {datagram.description}: {error}") from None
    config = Config(
        endpoints=tuple(endpoints),
        worker=(arguments.slot, os.getpid()),
        certificates=tuple(certificates),
        datagrams=tuple(
            (d.description, d.descriptor, d.addressFamily) for d in arguments.datagrams
        ),
        **decodeSettings(arguments.settings),
    )
    service = buildService(config, reactor)

    stopping: list[bool] = []

    def stop(*_: object) -> None:
        if not stopping:
            stopping.append(True)
            reactorAny.callFromThread(reactorAny.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    reactorAny.addReader(ParentWatcher(PARENT_PIPE, stop))

    def report() -> None:
        # Not a log line: the main process keeps it for /metrics.
        log.info("", **{FIGURES: service.figures()})

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

    def serving() -> None:
        # Said from the reactor's first turn, not before run(): the
        # supervisor counts a worker as serving (readiness, the hang
        # watch, a rolling restart's next step) from this line, and until
        # the loop runs nothing would be answered.
        reporting.start(REPORT_INTERVAL, now=False)
        log.info(
            "worker {slot} (pid {pid}) serving",
            slot=arguments.slot,
            pid=os.getpid(),
            **{READY: True},
        )

    service.privilegedStartService()
    service.startService()
    reactorAny.callLater(0, serving)
    return lambda: reactorAny.run(installSignalHandlers=False)


if __name__ == "__main__":
    main()
