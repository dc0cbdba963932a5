# -*- test-case-name: tests.test_tap -*-
"""
C{twistd hello}: the command-line options and the service they make.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import IService
from twisted.internet.endpoints import serverFromString
from twisted.python import usage
from twisted.python.threadpool import ThreadPool

from hello_service.accesslog import FORMATS, AccessLog
from hello_service.answers import Answerer
from hello_service.deadlines import Timeouts
from hello_service.pages import PageError, loadPages
from hello_service.protocol import HelloFactory
from hello_service.requests import DEFAULT_LIMITS, RequestLimits
from hello_service.responders import ConcurrentResponder, ParallelResponder, Responder
from hello_service.routes import DEFAULT_CACHE_CONTROL
from hello_service.service import HelloService
from hello_service.supervisor import Supervisor, workerCount

#: The endpoint kinds whose sockets workers can share.
_WORKER_ENDPOINTS = {"tcp", "tcp6", "unix", "systemd"}

#: The address of the original, with a listen backlog deep enough for a
#: burst of thousands of simultaneous connections (Twisted's default of 50
#: makes clients retry their SYNs for seconds).
DEFAULT_LISTEN = "tcp:7878:interface=127.0.0.1:backlog=4096"


def _number(
    kind: Callable[[str], Any], minimum: float, what: str
) -> Callable[[str], Callable[[str], Any]]:
    """
    A coercer factory for numeric options: its errors name the option, say
    what was expected, and refuse NaN and infinity.
    """

    def forOption(option: str) -> Callable[[str], Any]:
        def coerce(value: str) -> Any:
            try:
                number = kind(value)
            except ValueError:
                number = None
            if number is None or not minimum <= number < float("inf"):
                raise usage.UsageError(f"--{option}: {value!r} is not {what}")
            return number

        coerce.coerceDoc = ""  # type: ignore[attr-defined]
        return coerce

    return forOption


_seconds = _number(float, 0, "a number of seconds (0 or more)")
_positiveSeconds = _number(float, 0.001, "a number of seconds (more than 0)")
_positiveInteger = _number(int, 1, "a whole number (1 or more)")
_count = _number(int, 0, "a whole number (0 or more)")


def _workers(value: str) -> int:
    try:
        return workerCount(value)
    except ValueError:
        raise usage.UsageError(
            f"--workers: {value!r} is not a whole number (1 or more) or 'auto'"
        ) from None


_workers.coerceDoc = ""  # type: ignore[attr-defined]

#: Options that only the main process takes: a worker is given the rest.
_MAIN_PROCESS_ONLY = {"listen", "workers", "admin", "drain-delay"}


def _accessLogFormat(value: str) -> str:
    if value not in FORMATS:
        raise usage.UsageError(
            f"--access-log-format: {value!r} is not one of {', '.join(FORMATS)}"
        )
    return value


_accessLogFormat.coerceDoc = ""  # type: ignore[attr-defined]


def _cacheControl(value: str) -> str:
    if not value or not all(" " <= c <= "~" for c in value):
        raise usage.UsageError(
            f"--cache-control: {value!r} is not a header value (printable ASCII)"
        )
    return value


_cacheControl.coerceDoc = ""  # type: ignore[attr-defined]


class Options(usage.Options):
    """
    The options of C{twistd hello}.
    """

    synopsis = "[options]"
    longdesc = (
        "Serve the hello page: GET / answers it, GET /sleep answers it after "
        "a delay, anything else the 404 page.  Concurrent by default (every "
        "connection handled as reactor events on one thread); --parallel runs "
        "each request's work in a thread pool."
    )

    optFlags: list[list[Any]] = [
        [
            "parallel",
            None,
            "Run each request's work (read the page, sleep, build the response) "
            "in a thread pool [default: off, everything on the reactor].",
        ],
    ]

    optParameters: list[list[Any]] = [
        [
            "pages",
            None,
            None,
            "Directory whose hello.html and 404.html replace the shipped pages "
            "[default: the pages shipped with the package].",
        ],
        ["sleep", None, 5.0, "Delay of /sleep, in seconds.", _seconds("sleep")],
        [
            "threads",
            None,
            10,
            "Size of the request thread pool with --parallel.",
            _positiveInteger("threads"),
        ],
        [
            "max-connections",
            None,
            0,
            "Connections served at once; more wait in the listen backlog "
            "(0: unlimited).",
            _count("max-connections"),
        ],
        [
            "shutdown-timeout",
            None,
            30.0,
            "Seconds to let requests in flight finish on SIGTERM/SIGINT.",
            _seconds("shutdown-timeout"),
        ],
        [
            "header-timeout",
            None,
            Timeouts.header,
            "Seconds a client has to send a whole request, from its first byte.",
            _positiveSeconds("header-timeout"),
        ],
        [
            "idle-timeout",
            None,
            Timeouts.idle,
            "Seconds an idle keep-alive connection is kept open.",
            _positiveSeconds("idle-timeout"),
        ],
        [
            "write-timeout",
            None,
            Timeouts.write,
            "Seconds a client that stops reading its response is waited for.",
            _positiveSeconds("write-timeout"),
        ],
        [
            "workers",
            None,
            "1",
            "Worker processes serving the same sockets, or 'auto' for one per "
            "CPU this process may use (1: this process serves, as without it).",
            _workers,
        ],
        [
            "cache-control",
            None,
            DEFAULT_CACHE_CONTROL.decode(),
            "The Cache-Control of the hello and 404 pages (/sleep is always no-store).",
            _cacheControl,
        ],
        [
            "admin",
            None,
            None,
            "A strports description to serve /metrics, /ready and /live on, "
            "apart from the public ports [default: none].",
        ],
        [
            "drain-delay",
            None,
            0.0,
            "Seconds to keep serving after SIGTERM while /ready answers 503, "
            "before draining (so a load balancer stops sending first).",
            _seconds("drain-delay"),
        ],
        [
            "access-log",
            None,
            None,
            "A file to append the access log to [default: the twistd log].",
        ],
        [
            "access-log-format",
            None,
            "combined",
            "The access log's lines: combined (Combined Log Format) or json.",
            _accessLogFormat,
        ],
        [
            "max-body-size",
            None,
            DEFAULT_LIMITS.maxBody,
            "Largest request body read (and discarded), in bytes; larger: 413.",
            _count("max-body-size"),
        ],
    ]

    #: Set by tests to check endpoint descriptions against a fake reactor.
    _reactor: Any = None

    #: In a worker process of C{--workers}: its slot and PID.
    worker: tuple[int, int] | None = None

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self["listen"] = []

    def opt_listen(self, description: str) -> None:
        self["listen"].append(description)

    opt_listen.__doc__ = (
        "Listen on a strports endpoint description (tcp:8080, "
        "tcp6:8080:interface=\\:\\:1, unix:/run/hello.sock, ssl:..., "
        "systemd:...); repeat to listen on several "
        f"[default: {DEFAULT_LISTEN}]."
    )

    def postOptions(self) -> None:
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]
        try:
            self["loadedPages"] = loadPages(self["pages"])
        except PageError as error:
            raise usage.UsageError(str(error)) from None
        reactor = self._reactor or _installedReactor()
        self["endpoints"] = []
        for description in self["listen"]:
            try:
                endpoint = serverFromString(reactor, description)
            except Exception as error:  # any parse or setup error of a plugin
                raise usage.UsageError(
                    f"bad --listen {description!r}: {error}"
                ) from None
            self["endpoints"].append((description, endpoint))
        self["adminEndpoint"] = None
        if self["admin"] is not None:
            try:
                endpoint = serverFromString(reactor, self["admin"])
            except Exception as error:
                raise usage.UsageError(
                    f"bad --admin {self['admin']!r}: {error}"
                ) from None
            if self["admin"] in self["listen"]:
                raise usage.UsageError("--admin must not be a --listen address")
            self["adminEndpoint"] = (self["admin"], endpoint)
        if isinstance(self["workers"], str):  # the default, not coerced
            self["workers"] = _workers(self["workers"])
        if self["workers"] > 1:
            for description in self["listen"]:
                if description.split(":", 1)[0].lower() not in _WORKER_ENDPOINTS:
                    raise usage.UsageError(
                        f"--workers takes tcp, tcp6, unix and systemd endpoints, "
                        f"not {description!r} (terminate TLS in front of the "
                        "workers, or serve it with --workers 1)"
                    )

    def workerArguments(self) -> list[str]:
        """
        The options to give each worker: every option but those of the main
        process alone, as given or defaulted.
        """
        arguments = []
        for parameter in self.optParameters:
            name: str = parameter[0]
            value = self[name]
            if name not in _MAIN_PROCESS_ONLY and value is not None:
                arguments.append(f"--{name}={value}")
        for flag in self.optFlags:
            name = flag[0]
            if self[name]:
                arguments.append(f"--{name}")
        return arguments


def _installedReactor() -> Any:
    from twisted.internet import reactor

    return reactor


def makeService(options: Options) -> IService:
    """
    Build the service that C{twistd hello} runs.
    """
    reactor = options._reactor or _installedReactor()
    if options["workers"] > 1:
        return Supervisor(
            options["endpoints"],
            options.workerArguments(),
            options["workers"],
            reactor,
            shutdownTimeout=options["shutdown-timeout"],
            admin=options["adminEndpoint"],
            drainDelay=options["drain-delay"],
        )
    pages = options["loadedPages"]
    cacheControl = options["cache-control"].encode("ascii")
    threadPool = None
    responder: Responder
    if options["parallel"]:
        threadPool = ThreadPool(0, options["threads"], "hello_service")
        responder = ParallelResponder(
            pages, options["sleep"], reactor, threadPool, cacheControl
        )
    else:
        responder = ConcurrentResponder(pages, options["sleep"], reactor, cacheControl)
    factory = HelloFactory(
        Answerer(responder, reactor),
        reactor,
        requestLimits=RequestLimits(maxBody=options["max-body-size"]),
        timeouts=Timeouts(
            header=options["header-timeout"],
            idle=options["idle-timeout"],
            write=options["write-timeout"],
        ),
        accessLog=AccessLog(
            reactor,
            options["access-log"],
            FORMATS[options["access-log-format"]](options.worker),
        ),
    )
    return HelloService(
        options["endpoints"],
        factory,
        reactor,
        threadPool=threadPool,
        shutdownTimeout=options["shutdown-timeout"],
        maxConnections=options["max-connections"],
        admin=options["adminEndpoint"],
        drainDelay=options["drain-delay"],
    )
