# -*- test-case-name: tests.test_tap -*-
"""
C{twistd hello}: the command-line options, the L{Config} they make, and the
service made from that.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from twisted.application.service import IService
from twisted.internet.endpoints import serverFromString
from twisted.python import usage

from hello_service import __version__
from hello_service.configuration.certificates import (
    ReloadableCertificate,
    reloadableEndpoint,
)
from hello_service.configuration.config import Config, Listen
from hello_service.configuration.cpus import UsableCPUs, cgroupMemoryLimit, workerCount
from hello_service.configuration.environment import CONVENTIONAL, Setting, settingsFrom
from hello_service.configuration.listening import (
    WORKER_ENDPOINTS,
    StartupError,
    endpointKind,
    requireTLS,
    tcpEndpointAddress,
)
from hello_service.configuration.recycling import (
    RecyclePolicy,
    autoMemory,
    mebibytes,
    parseSize,
)
from hello_service.configuration.usageerrors import endpointProblem, reword
from hello_service.connection.accesslog import FORMATS, LineWriter
from hello_service.connection.deadlines import Timeouts
from hello_service.connection.http2.defences import HTTP2_DEFAULTS, HTTP2Settings
from hello_service.connection.http3 import missing as http3Missing
from hello_service.connection.http3.settings import HTTP3Settings
from hello_service.connection.reactor import reactorName
from hello_service.http.pages import PageError, loadPages
from hello_service.http.proxytrust import parseTrusted
from hello_service.http.requests import RequestLimits
from hello_service.processes.service import buildService
from hello_service.processes.supervisor import Supervisor

#: What hello is, in one line: C{twistd --help}, C{--help} and C{--version}
#: say it in these words.
DESCRIPTION = "A small, fast HTTP/1.1, HTTP/2 and HTTP/3 hello service on Twisted"

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


def _workers(value: str) -> UsableCPUs:
    try:
        return workerCount(value)
    except ValueError:
        raise usage.UsageError(
            f"--workers: {value!r} is not a whole number (1 or more) or 'auto'"
        ) from None


_workers.coerceDoc = ""  # type: ignore[attr-defined]


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


def _forwardedAllowIps(value: str) -> str:
    try:
        parseTrusted(value)
    except ValueError as error:
        raise usage.UsageError(f"--forwarded-allow-ips: {error}") from None
    return value


_forwardedAllowIps.coerceDoc = ""  # type: ignore[attr-defined]


def _workerMemory(value: str) -> int | str:
    """
    C{--max-worker-memory}: a size, in bytes, or C{auto}.
    """
    if value == "auto":
        return value
    try:
        return parseSize(value)
    except ValueError:
        raise usage.UsageError(
            f"--max-worker-memory: {value!r} is not a size (1M or more; "
            f"bytes, or with K, M or G) or 'auto'"
        ) from None


_workerMemory.coerceDoc = ""  # type: ignore[attr-defined]


def _recyclePolicy(options: usage.Options, workers: int) -> RecyclePolicy:
    """
    The recycling the options ask for, with C{auto} made a size.
    """
    memory, chosenBy = 0, ""
    if options["max-worker-memory"] == "auto":
        limit = cgroupMemoryLimit()
        memory = autoMemory(workers, limit)
        chosenBy = (
            "--max-worker-memory auto: no cgroup memory limit is set, no bound"
            if limit is None
            else f"--max-worker-memory auto chose {mebibytes(memory)}, "
            f"for the cgroup memory limit of {mebibytes(limit)}"
        )
    elif options["max-worker-memory"] is not None:
        memory = options["max-worker-memory"]
    policy = RecyclePolicy(
        options["max-requests"], options["max-requests-jitter"], memory, chosenBy
    )
    if (policy.active or options["max-worker-memory"]) and workers < 2:
        raise usage.UsageError(
            "--max-requests and --max-worker-memory recycle workers: give "
            "--workers 2 or more (with one process there is nobody to serve "
            "while it is replaced)"
        )
    return policy


class Options(usage.Options):
    """
    The options of C{twistd hello}.
    """

    synopsis = "[options]"
    longdesc = (
        "Serve the hello page: GET / answers it, GET /sleep answers it after "
        "a delay, anything else the 404 page.  Concurrent by default (every "
        "connection handled as reactor events on one thread); --parallel runs "
        "each request's work in a thread pool.  Every option can also be set "
        "in the environment, as HELLO_ and its name in capitals with _ for - "
        "(HELLO_SLEEP=2, HELLO_NO_ACCESS_LOG=1, HELLO_LISTEN='tcp:8080 "
        "tcp:8081'); "
        + "; ".join(
            f"{variables[0]} for --{option}"
            for option, variables in sorted(CONVENTIONAL.items())
        )
        + " too.  The command line wins."
    )

    optFlags: list[list[Any]] = [
        [
            "parallel",
            None,
            "Run each request's work (read the page, sleep, build the response) "
            "in a thread pool [default: off, everything on the reactor].",
        ],
        [
            "no-access-log",
            None,
            "Log no line per request [default: off, one line per request].",
        ],
        [
            "no-http2",
            None,
            "Serve HTTP/1.1 only [default: off: HTTP/2 too, by ALPN over TLS "
            "and by its preface in cleartext].",
        ],
        [
            "http3",
            None,
            "Serve HTTP/3 (QUIC) on the UDP port of each ssl: listener, and "
            "advertise it in Alt-Svc (needs the http3 extra) [default: off].",
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
        [
            "sleep",
            None,
            Config.sleep,
            "Delay of /sleep, in seconds.",
            _seconds("sleep"),
        ],
        [
            "threads",
            None,
            Config.threads,
            "Size of the request thread pool with --parallel.",
            _positiveInteger("threads"),
        ],
        [
            "max-connections",
            None,
            Config.maxConnections,
            "Connections served at once; more wait in the listen backlog "
            "(0: unlimited).",
            _count("max-connections"),
        ],
        [
            "shutdown-timeout",
            None,
            Config.shutdownTimeout,
            "Seconds to let requests in flight finish on SIGTERM/SIGINT.",
            _seconds("shutdown-timeout"),
        ],
        [
            "header-timeout",
            None,
            Config.timeouts.header,
            "Seconds a client has to send a whole request, from its first byte.",
            _positiveSeconds("header-timeout"),
        ],
        [
            "idle-timeout",
            None,
            Config.timeouts.idle,
            "Seconds an idle keep-alive connection is kept open.",
            _positiveSeconds("idle-timeout"),
        ],
        [
            "write-timeout",
            None,
            Config.timeouts.write,
            "Seconds a client that stops reading its response is waited for.",
            _positiveSeconds("write-timeout"),
        ],
        [
            "workers",
            None,
            str(Config.workers),
            "Worker processes serving the same sockets, or 'auto' for one per "
            "CPU this process may use: its affinity mask's, or fewer under a "
            "cgroup CPU quota (1: this process serves, as without it).",
            _workers,
        ],
        [
            "worker-timeout",
            None,
            Config.workerTimeout,
            "Seconds a worker may go without reporting (it reports every second "
            "from its reactor) before it is taken as hung, killed and replaced.",
            _positiveSeconds("worker-timeout"),
        ],
        [
            "max-requests",
            None,
            RecyclePolicy.maxRequests,
            "With --workers: replace a worker once it has answered this many "
            "requests, the way a rolling restart replaces it (0: never).",
            _count("max-requests"),
        ],
        [
            "max-requests-jitter",
            None,
            RecyclePolicy.jitter,
            "Up to this many requests more, chosen for each worker, so that "
            "the workers are not all replaced at once.",
            _count("max-requests-jitter"),
        ],
        [
            "max-worker-memory",
            None,
            None,
            "With --workers: replace a worker whose resident memory grows past "
            "this size (bytes, or with K, M, G), or 'auto' for a share of 80% "
            "of the cgroup's memory limit, where one is set [default: none].",
            _workerMemory,
        ],
        [
            "cache-control",
            None,
            Config.cacheControl.decode("ascii"),
            "The Cache-Control of the hello and 404 pages (/sleep is always no-store).",
            _cacheControl,
        ],
        [
            "admin",
            None,
            None,
            "A strports description to serve /metrics, /ready, /live and the "
            "/status page on, "
            "apart from the public ports [default: none].",
        ],
        [
            "drain-delay",
            None,
            Config.drainDelay,
            "Seconds to keep serving after SIGTERM while /ready answers 503, "
            "before draining (so a load balancer stops sending first).",
            _seconds("drain-delay"),
        ],
        [
            "access-log",
            None,
            None,
            "A file to append the access log to; SIGUSR1 reopens it "
            "[default: the twistd log].",
        ],
        [
            "access-log-format",
            None,
            Config.accessLogFormat,
            "The access log's lines: combined (Combined Log Format) or json.",
            _accessLogFormat,
        ],
        [
            "forwarded-allow-ips",
            None,
            None,
            "The proxies whose Forwarded and X-Forwarded-For headers name the "
            "client: addresses and CIDR ranges, separated by commas, or '*' "
            "for all [default: none].",
            _forwardedAllowIps,
        ],
        [
            "max-concurrent-streams",
            None,
            HTTP2_DEFAULTS.maxConcurrentStreams,
            "HTTP/2 streams one connection may have open at once (advertised in "
            "its SETTINGS; one more is refused with REFUSED_STREAM).",
            _positiveInteger("max-concurrent-streams"),
        ],
        [
            "http3-retry-above",
            None,
            HTTP3Settings.retryAbove,
            "With --http3: QUIC handshakes in progress past which a new client "
            "must prove its address with a Retry first (0: always).",
            _count("http3-retry-above"),
        ],
        [
            "max-body-size",
            None,
            Config.requestLimits.maxBody,
            "Largest request body read (and discarded), in bytes; larger: 413.",
            _count("max-body-size"),
        ],
    ]

    def __init__(
        self, reactor: Any = None, environ: Mapping[str, str] | None = None
    ) -> None:
        """
        @param reactor: the reactor to make endpoints for: the installed one
            unless given (a test gives a fake one).
        @param environ: the variables options are read from before the
            command line (L{hello_service.configuration.environment}): this process's
            environment unless given.
        """
        super().__init__()  # type: ignore[no-untyped-call]
        self["listen"] = []
        self.reactor = reactor
        self._environ = os.environ if environ is None else environ
        #: The listen descriptions of C{HELLO_LISTEN}: used only if the
        #: command line gives no C{--listen}.
        self._environmentListen: list[str] = []
        #: The certificates of the ssl: listeners, as they are parsed.
        self._certificates: list[ReloadableCertificate] = []
        #: What the options ask for, once parsed (L{postOptions}).
        self.config: Config | None = None

    def opt_listen(self, description: str) -> None:
        """Listen on a strports endpoint description (tcp:8080, tcp6:8080:interface=\\:\\:1, unix:/run/hello.sock, ssl:..., systemd:...); repeat to listen on several [default: tcp:7878:interface=127.0.0.1:backlog=4096]."""  # noqa: E501 (twistd --help shows it as written)
        self["listen"].append(description)

    def getSynopsis(self) -> str:
        """
        The head of C{--help}: hello's name and version, then how to run it.
        """
        usageLine: str = super().getSynopsis()
        return f"hello_service {__version__}: {DESCRIPTION}\n{usageLine}"

    def opt_version(self) -> None:
        """Print hello_service's version, with Twisted's and Python's, and exit."""
        print(versionLine())
        sys.exit(0)

    def parseOptions(self, options: list[str] | None = None) -> None:
        """
        Take the options the environment sets, then the command line's,
        which win.  A refusal is one line in hello's words
        (L{hello_service.configuration.usageerrors}): under twistd it ends the start with
        exit status 1 and that line on standard error, where twistd itself
        would print its whole usage; called from code, it is the
        C{UsageError} raised.
        """
        try:
            self._parseEnvironmentThenCommandLine(options)
        except usage.UsageError as error:
            known = [name.rstrip("=") for name in self.longOpt]
            line = reword(str(error), known)
            if self.parent is not None:
                raise StartupError(f"hello: {line}") from None
            raise usage.UsageError(line) from None

    def _parseEnvironmentThenCommandLine(self, options: list[str] | None) -> None:
        flags = {flag[0] for flag in self.optFlags}
        names = ["listen", *(p[0] for p in self.optParameters), *sorted(flags)]
        for setting in settingsFrom(self._environ, names):
            try:
                self._takeSetting(setting, setting.option in flags)
            except (usage.UsageError, ValueError) as error:
                why = str(error).removeprefix(f"--{setting.option}: ")
                raise usage.UsageError(
                    f"{setting.variable} (--{setting.option}): {why}"
                ) from None
        super().parseOptions(options)  # type: ignore[no-untyped-call]

    def _takeSetting(self, setting: Setting, isFlag: bool) -> None:
        """
        Set an option as its variable says, checked as the command line's
        would be.
        """
        if setting.option == "listen":
            self._environmentListen = setting.descriptions()
        elif isFlag:
            self[setting.option] = 1 if setting.flag() else 0
        else:
            dispatch = self._dispatch[setting.option]
            if isinstance(dispatch, usage.CoerceParameter):
                dispatch.dispatch(setting.option, setting.value)
            else:
                self[setting.option] = setting.value

    def postOptions(self) -> None:
        """
        Check the options together, and build the L{Config} they ask for:
        the pages are loaded and the endpoints parsed here, so that a
        mistake stops the start with one line.
        """
        if not self["listen"]:
            self["listen"] = self._environmentListen or [DEFAULT_LISTEN]
        if self["http3"] and (problem := http3Missing()) is not None:
            # Before the listeners: the http3 extra brings the tls one too.
            raise usage.UsageError(problem)
        if self.reactor is None:
            self.reactor = _installedReactor()
        try:
            pages = loadPages(self["pages"])
        except PageError as error:
            raise usage.UsageError(
                f"--pages: {error} (a directory holding hello.html and 404.html)"
            ) from None
        endpoints = tuple(
            self._endpoint("--listen", description) for description in self["listen"]
        )
        admin = None
        if self["admin"] is not None:
            admin = self._endpoint("--admin", self["admin"])
            if self["admin"] in self["listen"] and not _anyPort(admin[1]):
                raise usage.UsageError(
                    f"--admin: {self['admin']!r} is also a --listen address "
                    f"(give the admin site an address of its own)"
                )
        workers = self["workers"]
        if not isinstance(workers, UsableCPUs):  # the default, not coerced
            workers = _workers(str(workers))
        self["workers"] = workers.count
        if self["workers"] > 1:
            for description in self["listen"]:
                kind = endpointKind(description).rsplit(":", 1)[-1]
                if kind not in WORKER_ENDPOINTS:
                    raise usage.UsageError(
                        f"--workers: takes {', '.join(sorted(WORKER_ENDPOINTS))} "
                        f"endpoints (each may be inside haproxy:), not "
                        f"{description!r}; serve it with --workers 1"
                    )
        if self["access-log"] is not None:
            _checkAppendable("--access-log", self["access-log"])
        self.config = Config(
            endpoints=endpoints,
            pages=pages,
            sleep=self["sleep"],
            parallel=bool(self["parallel"]),
            threads=self["threads"],
            maxConnections=self["max-connections"],
            shutdownTimeout=self["shutdown-timeout"],
            timeouts=Timeouts(
                header=self["header-timeout"],
                idle=self["idle-timeout"],
                write=self["write-timeout"],
            ),
            requestLimits=RequestLimits(maxBody=self["max-body-size"]),
            cacheControl=self["cache-control"].encode("ascii"),
            accessLog=self["access-log"],
            accessLogFormat=self["access-log-format"],
            accessLogOff=bool(self["no-access-log"]),
            forwardedAllowIps=self["forwarded-allow-ips"] or "",
            twistdLog=self._twistdLog(),
            workers=self["workers"],
            workersChosenBy=workers.reason,
            workerTimeout=self["worker-timeout"],
            admin=admin,
            drainDelay=self["drain-delay"],
            reactor=reactorName(self.reactor),
            recycling=_recyclePolicy(self, self["workers"]),
            certificates=tuple(self._certificates),
            http2=None
            if self["no-http2"]
            else HTTP2Settings(maxConcurrentStreams=self["max-concurrent-streams"]),
            http3=self._http3(),
        )

    def _http3(self) -> HTTP3Settings | None:
        """
        How C{--http3} asks HTTP/3 to be served, checked: beside at least
        one C{ssl:} listener, with what it needs installed.
        """
        if not self["http3"]:
            return None
        if not any(endpointKind(d) == "ssl" for d in self["listen"]):
            raise usage.UsageError(
                "--http3: serves HTTP/3 on the UDP port of an ssl: listener, "
                "and no --listen is one (add --listen ssl:PORT:privateKey=...)"
            )
        return HTTP3Settings.withNewKey(retryAbove=self["http3-retry-above"])

    def _twistdLog(self) -> str | None:
        """
        Where twistd writes its log, from twistd's own options (this is the
        C{hello} subcommand of twistd's): C{-} for standard output, a file,
        or C{None} for a logger hello cannot write lines to itself.
        """
        twistd = getattr(self, "parent", None)
        if twistd is None or twistd.get("logger") or twistd.get("syslog"):
            return None
        logfile = twistd.get("logfile")
        if logfile == "-" or (twistd.get("nodaemon") and not logfile):
            return "-"
        return os.path.abspath(logfile or "twistd.log")

    def _endpoint(self, option: str, description: str) -> Listen:
        requireTLS(option, description)
        problem = endpointProblem(description)
        if problem:
            raise usage.UsageError(f"{option}: {description!r}: {problem}")
        reactor = self.reactor
        try:
            if option == "--listen" and endpointKind(description).endswith("ssl"):
                # Its certificate, reloadable (SIGHUP), presented at every
                # handshake; its files read once, here.
                endpoint, certificate = reloadableEndpoint(reactor, description)
                self._certificates.append(certificate)
                return description, endpoint
            return description, serverFromString(reactor, description)
        except Exception as error:  # any parse or setup error of a plugin
            problem = endpointProblem(description, error)
            raise usage.UsageError(f"{option}: {description!r}: {problem}") from None


def _anyPort(endpoint: object) -> bool:
    """
    Whether C{endpoint} asks for any free port (port 0): two such
    descriptions, the same in words, name two different sockets.
    """
    address = tcpEndpointAddress(endpoint)
    return address is not None and address[1] == 0


def versionLine() -> str:
    """
    What C{--version} prints: hello_service's version, then Twisted's and
    Python's, which decide what it can do.
    """
    from twisted.copyright import version as twistedVersion

    python = ".".join(str(part) for part in sys.version_info[:3])
    return f"hello_service {__version__} (Twisted {twistedVersion}, Python {python})"


def _checkAppendable(option: str, path: str) -> None:
    """
    Refuse to start, with one line, if C{path} cannot be opened to append.
    """
    try:
        LineWriter(path=path).close()  # opened as the service will open it
    except OSError as error:
        raise usage.UsageError(
            f"{option}: cannot write {path}: {error.strerror}"
        ) from None


def _installedReactor() -> Any:
    """
    The reactor twistd runs: the one its C{-r} named, else hello's.  twistd
    has no way for a plugin to name a default reactor; it parses the
    plugin's options after its own (so after any C{-r}) and before anything
    imports the reactor, so this is where hello's is installed.
    """
    if "twisted.internet.reactor" not in sys.modules:
        from hello_service.connection.reactor import install

        install()
    from twisted.internet import reactor

    return reactor


def makeService(options: Options) -> IService:
    """
    Build the service that C{twistd hello} runs: one process serving, or
    the supervisor of C{--workers}.
    """
    config = options.config
    assert config is not None, "makeService is given parsed options"
    if config.workers > 1:
        return Supervisor(config, options.reactor)
    return buildService(config, options.reactor)
