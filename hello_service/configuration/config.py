# -*- test-case-name: tests.test_tap,tests.test_config -*-
"""
The service's configuration, typed and frozen, built from the command line
once (L{hello_service.tap.Options}) with its I/O done: the pages loaded and
the endpoint descriptions parsed.  The services and the workers receive it;
nothing reads the options after that.

A worker of C{--workers} is another process: which of these fields it is
sent, and how, is the contract of L{hello_service.processes.handoff}, derived from the
fields themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.interfaces import IStreamServerEndpoint

from hello_service.answers.routes import DEFAULT_CACHE_CONTROL
from hello_service.configuration.certificates import ReloadableCertificate
from hello_service.configuration.recycling import RecyclePolicy
from hello_service.connection.deadlines import Timeouts
from hello_service.connection.http2.defences import HTTP2_DEFAULTS, HTTP2Settings
from hello_service.connection.http3.settings import HTTP3Settings
from hello_service.http.pages import Pages
from hello_service.http.requests import RequestLimits

#: An endpoint with the description it was made from (the start-up line and
#: the error messages name the description).
Listen = tuple[str, IStreamServerEndpoint]


@dataclass(frozen=True)
class Config:
    """
    Everything a service needs to serve, as the options asked for it.

    @ivar endpoints: where to serve the public routes.
    @ivar pages: the hello and 404 pages, loaded.
    @ivar sleep: the delay of C{/sleep}, in seconds.
    @ivar parallel: whether each request's work runs in a thread pool.
    @ivar threads: the size of that pool.
    @ivar maxConnections: connections served at once (0: as many as the
        descriptor limit allows).
    @ivar shutdownTimeout: how long the requests in flight may take to
        finish once the service stops.
    @ivar timeouts: how long a client may take (L{Timeouts}).
    @ivar requestLimits: how much a client may send (L{RequestLimits}).
    @ivar cacheControl: the C{Cache-Control} of the hello and 404 pages.
    @ivar accessLog: the file the access log is appended to, or C{None} for
        the twistd log.
    @ivar forwardedAllowIps: the proxies whose C{Forwarded} and
        C{X-Forwarded-For} headers name the client (addresses and CIDR
        ranges, separated by commas; C{*} for all; empty for none).
    @ivar accessLogFormat: C{combined} or C{json}.
    @ivar accessLogOff: C{--no-access-log}: requests are not logged.
    @ivar twistdLog: where twistd writes its log: C{-} for standard output,
        a file's path, or C{None} where hello cannot write whole lines to it
        itself (a C{--logger} or C{--syslog}, or no twistd at all): then
        access lines are log events.
    @ivar accessLogDescriptor: in a worker, the inherited descriptor of the
        supervisor's standard output, where its access lines go when the
        twistd log is standard output.
    @ivar workers: worker processes (1: this process serves).
    @ivar workersChosenBy: for C{--workers auto}, what limited the number
        (the affinity mask or the cgroup CPU quota), for the start-up line.
    @ivar workerTimeout: how long a worker may go without reporting before
        it is taken as hung, killed and replaced.
    @ivar admin: where to serve the admin site, or C{None}.
    @ivar drainDelay: how long to serve on, not ready, once told to stop.
    @ivar worker: in a worker process, its slot and PID (for its log lines).
    @ivar reactor: the twistd name of the reactor the main process runs on,
        which its workers run on too (C{""}: hello's).
    @ivar http2: how HTTP/2 is served, or C{None} with C{--no-http2}.
    @ivar http3: how HTTP/3 is served beside each C{ssl:} listener, or
        C{None} without C{--http3}.
    @ivar datagrams: in a worker, the UDP sockets its supervisor bound for
        HTTP/3 (by C{ssl:} description, descriptor and address family).
    @ivar recycling: when the supervisor replaces a worker that has served
        long or grown large (L{RecyclePolicy}).
    @ivar certificates: the certificates of the C{ssl:} listeners, which
        SIGHUP reloads and C{/metrics} gives the expiry of.
    """

    endpoints: tuple[Listen, ...]
    pages: Pages
    sleep: float = 5.0
    parallel: bool = False
    threads: int = 10
    maxConnections: int = 0
    shutdownTimeout: float = 30.0
    timeouts: Timeouts = Timeouts()
    requestLimits: RequestLimits = RequestLimits()
    cacheControl: bytes = DEFAULT_CACHE_CONTROL
    accessLog: str | None = None
    accessLogFormat: str = "combined"
    forwardedAllowIps: str = ""
    accessLogOff: bool = False
    twistdLog: str | None = None
    accessLogDescriptor: int | None = None
    workers: int = 1
    workersChosenBy: str = ""
    workerTimeout: float = 10.0
    admin: Listen | None = None
    drainDelay: float = 0.0
    worker: tuple[int, int] | None = None
    reactor: str = ""
    http2: HTTP2Settings | None = HTTP2_DEFAULTS
    http3: HTTP3Settings | None = None
    datagrams: tuple[tuple[str, int, int], ...] = ()
    recycling: RecyclePolicy = RecyclePolicy()
    certificates: tuple[ReloadableCertificate, ...] = ()
