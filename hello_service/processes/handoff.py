# -*- test-case-name: tests.test_handoff -*-
"""
The contract between the supervisor of C{--workers} and its workers, whole:
everything the two processes agree on lives here, and nothing else does.

  - how a worker is started: C{python -m hello_service.worker --slot N
    --inherit FD:FAMILY:DESCRIPTION... [--inherit-datagram
    FD:FAMILY:DESCRIPTION...] --settings JSON}
    (L{WorkerArguments}, built and parsed here and nowhere else);
  - which settings of L{Config} a worker receives: every field, unless
    L{NOT_SENT} names it with the reason the worker does without it.  The
    settings are derived from the fields themselves (L{encodeSettings},
    L{decodeSettings}), so a field added to L{Config} is sent unless
    somebody decides otherwise, and C{tests.test_handoff} fails if a field
    is neither;
  - what a worker says on its standard output (JSON log events; the keys
    L{READY} and L{FIGURES} mark the two that are not log lines for people)
    and how often (L{REPORT_INTERVAL});
  - how a worker says it cannot start: one line on its standard error and
    the exit status L{BOOT_ERROR};
  - how the supervisor asks a hung worker where it hung: C{STACKS_SIGNAL},
    on which the worker writes every thread's stack to its standard error.

A worker imports this module and L{hello_service.configuration.config}, never the
supervisor (which would bring the admin site and C{prometheus_client} into
every worker for nothing).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import socket
import types
from collections.abc import Sequence
from typing import Any, get_type_hints

from hello_service.configuration.config import Config
from hello_service.http.pages import Pages, loadPages

#: The exit status of a worker that cannot start: not a crash to retry,
#: since the next would fail the same way.  As gunicorn's workers' boot
#: error, it stops the whole service at once.
BOOT_ERROR = 3

#: How often a worker sends its figures to the main process, in seconds:
#: this is also its heartbeat, since they come from its reactor.
REPORT_INTERVAL = 1.0

#: The key of the log event a worker publishes once it serves.
READY = "hello_worker_ready"

#: The key of the log event that carries a worker's figures (every
#: L{REPORT_INTERVAL}, and once more as it ends): kept for C{/metrics}, not
#: shown as a log line.
FIGURES = "hello_metrics"

#: On this signal a worker writes the stack of each of its threads to its
#: standard error (C{faulthandler}, which needs no help from a stuck
#: reactor), so that the supervisor can log where a hung worker hung
#: before it kills it.
STACKS_SIGNAL = signal.SIGUSR2

#: Address families, by the names the C{--inherit} argument gives them.
FAMILIES = {"INET": socket.AF_INET, "INET6": socket.AF_INET6, "UNIX": socket.AF_UNIX}

#: The fields of L{Config} a worker is not sent, with why it does without.
NOT_SENT = {
    "endpoints": "the worker inherits their sockets (--inherit) instead",
    "workers": "the supervisor's own: how many workers it keeps",
    "workersChosenBy": "the supervisor's own: its start-up line",
    "workerTimeout": "the supervisor's own: it kills a worker silent that long",
    "admin": "the supervisor's own: it serves the admin site for all workers",
    "drainDelay": "the supervisor's own: it waits, not ready, before draining",
    "worker": "the worker's own slot and PID (--slot and its own PID)",
    "recycling": "the supervisor's own: it replaces a worker past its bounds",
    "certificates": "a worker loads its own, from its --inherit description",
    "datagrams": "the worker inherits their sockets (--inherit-datagram) instead",
}


#: A worker's descriptors: 0 is a pipe from the supervisor, which the
#: worker watches to end when the supervisor is gone; 1 and 2 are read by
#: the supervisor (events and stacks); the inherited listening sockets
#: follow from L{FIRST_SOCKET}, in C{--listen} order; then the UDP sockets
#: of HTTP/3 (C{--http3}), in the same order; then, if the access lines go
#: to the supervisor's standard output, that.
PARENT_PIPE = 0
FIRST_SOCKET = 3


def workerDescriptors(
    sockets: Sequence[tuple[int, str, str]],
    accessLogToOutput: bool,
    datagrams: Sequence[tuple[int, str, str]] = (),
) -> tuple[
    dict[int, Any], tuple[InheritedSocket, ...], tuple[InheritedSocket, ...], int | None
]:
    """
    The descriptors a worker starts with, as C{spawnProcess} takes them
    (C{childFDs}), from C{sockets} (each listening socket's descriptor in
    the supervisor, its family's name and its description) and
    C{datagrams} (the UDP sockets of HTTP/3, likewise, by the description
    of the C{ssl:} listener they serve beside): those descriptors, the
    sockets and the datagram sockets as the worker will name them, and the
    access log's descriptor in the worker, if any.
    """
    childFDs: dict[int, Any] = {PARENT_PIPE: "w", 1: "r", 2: "r"}
    named: list[list[InheritedSocket]] = [[], []]
    next = FIRST_SOCKET
    for kind, given in enumerate((sockets, datagrams)):
        for descriptor, family, description in given:
            childFDs[next] = descriptor
            named[kind].append(InheritedSocket(next, family, description))
            next += 1
    accessLog = None
    if accessLogToOutput:
        accessLog = next
        childFDs[accessLog] = 1
    return childFDs, tuple(named[0]), tuple(named[1]), accessLog


class BootError(Exception):
    """
    A worker cannot start, for the reason its message says in one line.
    """


@dataclasses.dataclass(frozen=True)
class InheritedSocket:
    """
    A listening socket a worker inherits: its descriptor in the worker, its
    address family's name (a key of L{FAMILIES}), and the C{--listen}
    description it was bound for (whose layers, TLS and PROXY, the worker
    adds itself).
    """

    descriptor: int
    family: str
    description: str

    def argument(self) -> str:
        return f"{self.descriptor}:{self.family}:{self.description}"

    @classmethod
    def fromArgument(cls, text: str) -> InheritedSocket:
        descriptor, family, description = text.split(":", 2)
        if family not in FAMILIES:
            raise ValueError(f"unknown address family {family!r}")
        return cls(int(descriptor), family, description)

    @property
    def addressFamily(self) -> int:
        return FAMILIES[self.family]


@dataclasses.dataclass(frozen=True)
class WorkerArguments:
    """
    The command line of one worker: its slot, the sockets it inherits, and
    its settings (L{encodeSettings}).
    """

    slot: int
    inherited: tuple[InheritedSocket, ...]
    settings: str
    #: The UDP sockets of HTTP/3, by the C{ssl:} description they serve
    #: beside.
    datagrams: tuple[InheritedSocket, ...] = ()

    #: The module a worker runs as (C{python -m}).
    MODULE = "hello_service.worker"

    def argv(self, executable: str) -> list[str]:
        """
        The whole command line, starting with C{executable}.
        """
        arguments = [executable, "-m", self.MODULE, "--slot", str(self.slot)]
        for inherited in self.inherited:
            arguments += ["--inherit", inherited.argument()]
        for datagram in self.datagrams:
            arguments += ["--inherit-datagram", datagram.argument()]
        return arguments + ["--settings", self.settings]

    @classmethod
    def parse(cls, argv: Sequence[str]) -> WorkerArguments:
        """
        A worker's arguments, from its command line (without the program).
        """
        parser = argparse.ArgumentParser(prog=f"python -m {cls.MODULE}")
        parser.add_argument("--slot", type=int, required=True)
        parser.add_argument(
            "--inherit",
            action="append",
            default=[],
            type=InheritedSocket.fromArgument,
            metavar="FD:FAMILY:DESCRIPTION",
            help="a listening socket inherited as descriptor FD",
        )
        parser.add_argument(
            "--inherit-datagram",
            action="append",
            default=[],
            type=InheritedSocket.fromArgument,
            metavar="FD:FAMILY:DESCRIPTION",
            help="the UDP socket of HTTP/3 beside the ssl: listener DESCRIPTION",
        )
        parser.add_argument(
            "--settings",
            required=True,
            metavar="JSON",
            help="what to serve, from the supervisor's configuration",
        )
        parsed = parser.parse_args(list(argv))
        return cls(
            parsed.slot,
            tuple(parsed.inherit),
            parsed.settings,
            tuple(parsed.inherit_datagram),
        )


def sentFields() -> list[str]:
    """
    The names of the fields of L{Config} a worker receives: all but
    L{NOT_SENT}.
    """
    return [f.name for f in dataclasses.fields(Config) if f.name not in NOT_SENT]


def _encode(value: Any) -> Any:
    if isinstance(value, Pages):
        return str(value.directory)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, bytes):
        return value.decode("ascii")
    return value


def _decode(kind: Any, value: Any) -> Any:
    if isinstance(kind, types.UnionType) and value is not None:
        (kind,) = [arm for arm in kind.__args__ if arm is not type(None)]
    if kind is Pages:
        return loadPages(value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        made: Any = kind
        return made(**{name: _decode(hints[name], v) for name, v in value.items()})
    if kind is bytes:
        return value.encode("ascii")
    return value


def encodeSettings(config: Config, **overrides: Any) -> str:
    """
    The settings a worker receives, as JSON: every sent field of C{config}
    (with C{overrides} in place of some, such as the descriptor a worker's
    access lines go to).
    """
    config = dataclasses.replace(config, **overrides)
    return json.dumps({name: _encode(getattr(config, name)) for name in sentFields()})


def decodeSettings(text: str) -> dict[str, Any]:
    """
    The fields a worker's L{Config} is made with, from L{encodeSettings}'
    JSON: the pages are loaded here (and may fail to be, with
    L{hello_service.http.pages.PageError}).
    """
    given = json.loads(text)
    hints = get_type_hints(Config)
    return {name: _decode(hints[name], given[name]) for name in sentFields()}


def reactorOf(settings: str) -> str:
    """
    The reactor a worker runs on, from its settings, read before anything
    else (it must be installed before Twisted's reactor is imported).
    """
    name: str = json.loads(settings)["reactor"]
    return name
