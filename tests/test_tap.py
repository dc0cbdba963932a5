# -*- test-case-name: tests.test_tap -*-
"""
The plugin, its options, and the service they make.
"""

from __future__ import annotations

from pathlib import Path

from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactor, MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from hello_service import tap
from hello_service.configuration.config import Config
from hello_service.configuration.cpus import UsableCPUs
from hello_service.connection.limits import currentDescriptorLimit
from hello_service.processes.service import HelloService
from hello_service.tap import DEFAULT_LISTEN, DESCRIPTION, Options, makeService

from .support.builders import connect, get


def parse(*arguments: str) -> Options:
    options = Options(reactor=MemoryReactor(), environ={})
    options.parseOptions(list(arguments))
    return options


class PluginTests(SynchronousTestCase):
    """
    twistd finds the C{hello} plugin.
    """

    def test_found(self) -> None:
        """
        The plugin is found by C{getPlugins} and points at our options.
        """
        makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
        self.assertIn("hello", makers)
        self.assertIs(makers["hello"].options, Options)

    def test_oneDescription(self) -> None:
        """
        The plugin's line in C{twistd --help} is the description C{--help}
        and the docs use: HTTP/1.1, HTTP/2 and HTTP/3.
        """
        makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
        self.assertEqual(makers["hello"].description, DESCRIPTION)
        self.assertIn("HTTP/1.1, HTTP/2 and HTTP/3", DESCRIPTION)


class OptionsTests(SynchronousTestCase):
    """
    The documented option forms are accepted; bad values are refused with a
    one-line reason.
    """

    def test_defaults(self) -> None:
        """
        With no options: the original's address, 5 s, concurrent, unlimited.
        """
        options = parse()
        self.assertEqual(options["listen"], [DEFAULT_LISTEN])
        self.assertEqual(options["sleep"], 5.0)
        self.assertFalse(options["parallel"])
        self.assertEqual(options["max-connections"], 0)
        self.assertIn("backlog=4096", DEFAULT_LISTEN)

    def test_defaultsAreConfigs(self) -> None:
        """
        Every default of the command line is C{Config}'s own: an option
        left out builds the configuration a C{Config} with that field left
        out is.
        """
        config = parse().config
        assert config is not None
        self.assertEqual(
            config,
            Config(
                endpoints=config.endpoints,
                pages=config.pages,
                reactor=config.reactor,
                workersChosenBy=config.workersChosenBy,
            ),
        )

    def test_workersAutoCountedOnce(self) -> None:
        """
        C{--workers auto} reads the CPUs this process may use once, whether
        it comes from the command line or the environment.
        """
        counted = []

        def workerCount(value: str) -> UsableCPUs:
            counted.append(value)
            return UsableCPUs(3, "the affinity mask")

        self.patch(tap, "workerCount", workerCount)
        self.assertEqual(parse("--workers", "auto")["workers"], 3)
        options = Options(reactor=MemoryReactor(), environ={"HELLO_WORKERS": "auto"})
        options.parseOptions([])
        self.assertEqual(options["workers"], 3)
        self.assertEqual(counted, ["auto", "auto"])

    def test_documentedForms(self) -> None:
        """
        Every option takes the form the help shows; --listen repeats.
        """
        options = parse(
            "--listen", "tcp:8080",
            "--listen", "unix:/tmp/hello.sock",
            "--listen", "tcp6:8081:interface=\\:\\:1",
            "--sleep", "0.25",
            "--parallel",
            "--threads", "4",
            "--max-connections", "100",
            "--shutdown-timeout", "3",
            "--header-timeout", "2",
            "--idle-timeout", "3",
            "--write-timeout", "4",
            "--max-body-size", "1024",
        )  # fmt: skip
        self.assertEqual(
            options["listen"],
            ["tcp:8080", "unix:/tmp/hello.sock", "tcp6:8081:interface=\\:\\:1"],
        )
        self.assertEqual(
            {
                name: options[name]
                for name in [
                    "sleep", "parallel", "threads", "max-connections",
                    "shutdown-timeout", "header-timeout", "idle-timeout",
                    "write-timeout", "max-body-size",
                ]
            },
            {
                "sleep": 0.25, "parallel": 1, "threads": 4, "max-connections": 100,
                "shutdown-timeout": 3.0, "header-timeout": 2.0, "idle-timeout": 3.0,
                "write-timeout": 4.0, "max-body-size": 1024,
            },
        )  # fmt: skip

    def test_badValues(self) -> None:
        """
        Values out of range or of the wrong kind are refused.
        """
        for arguments in [
            ("--sleep", "soon"),
            ("--sleep", "-1"),
            ("--sleep", "nan"),
            ("--sleep", "inf"),
            ("--threads", "0"),
            ("--threads", "2.5"),
            ("--max-connections", "-3"),
            ("--idle-timeout", "0"),
            ("--listen", "bogus:1234"),
            ("--listen", "tcp:notaport"),
            ("--pages", "/nonexistent/pages"),
            ("--unknown",),
        ]:
            with self.assertRaises(UsageError, msg=arguments) as raised:
                parse(*arguments)
            self.assertNotIn("\n", str(raised.exception))

    def test_forwardedAllowIps(self) -> None:
        """
        C{--forwarded-allow-ips} takes addresses and ranges, and refuses
        anything else in one line naming the entry.
        """
        config = parse("--forwarded-allow-ips", "10.0.0.0/8, ::1").config
        assert config is not None
        self.assertEqual(config.forwardedAllowIps, "10.0.0.0/8, ::1")
        with self.assertRaises(UsageError) as raised:
            parse("--forwarded-allow-ips", "10.0.0.0/8,proxy")
        self.assertEqual(
            str(raised.exception),
            "--forwarded-allow-ips: 'proxy' is not an IP address or CIDR range",
        )

    def test_workerEndpoints(self) -> None:
        """
        C{--workers} serves TCP, TLS, UNIX and systemd sockets, each inside
        any number of C{haproxy:} wrappers, and refuses other kinds in one
        line (an endpoint plugin's socket is not one it can share).
        """
        parse("--workers", "2", "--listen", "haproxy:tcp:0", "--listen", "unix:x")
        with self.assertRaises(UsageError) as raised:
            parse("--workers", "2", "--listen", "haproxy:stdio:")
        self.assertEqual(
            str(raised.exception),
            "--workers: takes ssl, systemd, tcp, tcp6, unix endpoints (each may be "
            "inside haproxy:), not 'haproxy:stdio:'; serve it with --workers 1",
        )

    def test_adminAddressOfItsOwn(self) -> None:
        """
        C{--admin} at a C{--listen} address is refused in one line; port 0
        twice is two free ports, not one address, and is taken.
        """
        with self.assertRaises(UsageError) as raised:
            parse("--listen", "tcp:7001", "--admin", "tcp:7001")
        self.assertEqual(
            str(raised.exception),
            "--admin: 'tcp:7001' is also a --listen address "
            "(give the admin site an address of its own)",
        )
        options = parse("--listen", "tcp:0", "--admin", "tcp:0")
        self.assertEqual(options.config.admin[0], "tcp:0")

    def test_pagesDirectory(self) -> None:
        """
        A directory missing one of the pages is refused, naming the page.
        """
        directory = Path(self.mktemp())
        directory.mkdir()
        (directory / "hello.html").write_bytes(b"hi")
        with self.assertRaises(UsageError) as raised:
            parse("--pages", str(directory))
        self.assertIn("404.html", str(raised.exception))
        (directory / "404.html").write_bytes(b"no")
        config = parse("--pages", str(directory)).config
        assert config is not None
        self.assertEqual(config.pages.hello, b"hi")


def built(*arguments: str) -> tuple[HelloService, MemoryReactorClock]:
    """
    The service C{twistd hello ARGUMENTS} would run, built on a fake
    reactor whose clock the test moves.
    """
    reactor = MemoryReactorClock()
    options = Options(reactor=reactor, environ={})
    options.parseOptions(list(arguments))
    service = makeService(options)
    assert isinstance(service, HelloService)
    service.descriptorLimit = currentDescriptorLimit  # type: ignore[method-assign]
    return service, reactor


class OptionsTakeEffectTests(SynchronousTestCase):
    """
    Each option, parsed, reaches the service built from it and changes what
    a client sees: the value given, not the default.
    """

    def test_headerTimeout(self) -> None:
        """
        C{--header-timeout 2}: a request begun and not finished is refused
        with 408 at 2 s, not at the default 10.
        """
        service, clock = built("--header-timeout", "2")
        protocol, transport = connect(service.factory)
        protocol.dataReceived(b"GET / HTTP/1.1\r\n")
        clock.advance(1.99)
        self.assertEqual(transport.value(), b"")
        clock.advance(0.01)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 408 "))

    def test_idleTimeout(self) -> None:
        """
        C{--idle-timeout 3}: an idle connection is closed at 3 s, not 15.
        """
        service, clock = built("--idle-timeout", "3")
        protocol, transport = connect(service.factory)
        clock.advance(2.99)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.01)
        self.assertTrue(transport.disconnecting)

    def test_writeTimeout(self) -> None:
        """
        C{--write-timeout 4}: a client that stops reading is dropped at
        4 s, not 30.
        """
        service, clock = built("--write-timeout", "4")
        protocol, transport = connect(service.factory)
        protocol.dataReceived(get())
        protocol.pauseProducing()  # the transport's buffer is full
        clock.advance(3.99)
        self.assertFalse(transport.disconnected)
        clock.advance(0.01)
        self.assertTrue(transport.disconnected)

    def test_maxBodySize(self) -> None:
        """
        C{--max-body-size 1024}: a body of 1024 bytes is read, one of 1025
        refused with 413.
        """
        service, _ = built("--max-body-size", "1024")
        for size, status in [(1024, b"405"), (1025, b"413")]:
            protocol, transport = connect(service.factory)
            protocol.dataReceived(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
                + b"x" * size
            )
            self.assertTrue(
                transport.value().startswith(b"HTTP/1.1 " + status), transport.value()
            )

    def test_sleep(self) -> None:
        """
        C{--sleep 0.25}: C{/sleep} answers at 0.25 s, not 5.
        """
        service, clock = built("--sleep", "0.25")
        protocol, transport = connect(service.factory)
        protocol.dataReceived(get(b"/sleep"))
        clock.advance(0.24)
        self.assertEqual(transport.value(), b"")
        clock.advance(0.01)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 OK\r\n"))

    def test_parallelThreads(self) -> None:
        """
        C{--parallel --threads 4}: the work runs in a pool of at most 4
        threads, started and stopped with the service.
        """
        service, _ = built("--parallel", "--threads", "4")
        self.assertEqual(service.factory.answerer.mode, "parallel")
        pool = service.threadPool
        assert pool is not None
        self.assertEqual((pool.min, pool.max), (0, 4))
        self.assertIsNone(built()[0].threadPool)

    def test_maxConnections(self) -> None:
        """
        C{--max-connections 2}: a third connection is held, unread, until
        one of the first two closes.
        """
        service, _ = built("--max-connections", "2")
        service.endpoints = []  # the limit without the fake reactor's ports
        service.privilegedStartService()
        connections = [connect(service.factory) for _ in range(3)]
        self.assertEqual(
            [transport.producerState for _, transport in connections],
            ["producing", "producing", "paused"],
        )
        connections[0][0].connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual(connections[2][1].producerState, "producing")

    def test_shutdownTimeout(self) -> None:
        """
        C{--shutdown-timeout 3}: a request still in flight at stop is cut
        off at 3 s, not 30.
        """
        service, clock = built("--shutdown-timeout", "3", "--sleep", "60")
        service.privilegedStartService()
        service.startService()
        protocol, transport = connect(service.factory)
        protocol.dataReceived(get(b"/sleep"))
        stopped = service.stopService()
        clock.advance(2.99)
        self.assertFalse(transport.disconnected)
        clock.advance(0.01)
        self.assertTrue(transport.disconnected)
        protocol.connectionLost(None)  # type: ignore[arg-type]
        self.successResultOf(stopped)

    def test_pages(self) -> None:
        """
        C{--pages DIR}: the pages of DIR are served.
        """
        directory = Path(self.mktemp())
        directory.mkdir()
        (directory / "hello.html").write_bytes(b"hi there\n")
        (directory / "404.html").write_bytes(b"not here\n")
        service, _ = built("--pages", str(directory))
        protocol, transport = connect(service.factory)
        protocol.dataReceived(get() + get(b"/x"))
        self.assertEqual(transport.value().count(b"\r\n\r\nhi there\n"), 1)
        self.assertTrue(transport.value().endswith(b"\r\n\r\nnot here\n"))

    def test_listen(self) -> None:
        """
        Each C{--listen} becomes an endpoint the service listens on, in order.
        """
        service, reactor = built(
            "--listen", "tcp:8080:interface=127.0.0.1:backlog=7",
            "--listen", "tcp:8081",
        )  # fmt: skip
        service.privilegedStartService()
        self.assertEqual(
            [
                (port, backlog, interface)
                for port, _, backlog, interface in reactor.tcpServers
            ],
            [(8080, 7, "127.0.0.1"), (8081, 50, "")],
        )
