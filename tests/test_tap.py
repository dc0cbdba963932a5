# -*- test-case-name: tests.test_tap -*-
"""
The plugin, its options, and the service they make.
"""

from __future__ import annotations

import os
import re
import resource
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactor, MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase, TestCase

from hello_service.limits import currentDescriptorLimit
from hello_service.listening import StartupError
from hello_service.service import HelloService
from hello_service.tap import DEFAULT_LISTEN, Options, makeService

from .support.builders import connect, get
from .support.processes import (
    CHECKOUT,
    TWISTD,
    checkoutEnvironment,
    runHello,
    startHello,
    takenPort,
)


def parse(*arguments: str) -> Options:
    options = Options(reactor=MemoryReactor())
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
    options = Options(reactor=reactor)
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


class MakeServiceTests(TestCase):
    """
    C{makeService} gives a service that listens, and fails fast if it
    cannot.
    """

    def test_listens(self) -> None:
        """
        The service listens on every --listen description once started.
        """
        options = Options()
        options.parseOptions(
            [
                "--listen",
                "tcp:0:interface=127.0.0.1",
                "--listen",
                "tcp:0:interface=127.0.0.1",
            ]
        )
        service = makeService(options)
        assert isinstance(service, HelloService)
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(len(service.ports), 2)
        for port in service.ports:
            client = socket.create_connection(
                ("127.0.0.1", port.getHost().port),  # type: ignore[attr-defined]
                timeout=1,
            )
            client.close()

    def test_portTaken(self) -> None:
        """
        A port already taken is a one-line start-up error.
        """
        options = Options()
        options.parseOptions(["--listen", f"tcp:{takenPort(self)}:interface=127.0.0.1"])
        service = makeService(options)
        with self.assertRaises(StartupError) as raised:
            service.privilegedStartService()
        self.assertIn("cannot listen on tcp:", str(raised.exception))
        self.assertIn("Address already in use", str(raised.exception))


#: Each option's default as C{--help} must show it, written out here, not
#: read from the code under test.
DOCUMENTED_DEFAULTS = {
    "listen": "tcp:7878:interface=127.0.0.1:backlog=4096",
    "pages": "the pages shipped with the package",
    "parallel": "off, everything on the reactor",
    "sleep": "5.0",
    "threads": "10",
    "max-connections": "0",
    "shutdown-timeout": "30.0",
    "header-timeout": "10.0",
    "idle-timeout": "15.0",
    "write-timeout": "30.0",
    "max-body-size": "65536",
    "workers": "1",
    "cache-control": "max-age=60",
    "admin": "none",
    "drain-delay": "0.0",
    "access-log": "the twistd log",
    "access-log-format": "combined",
}


def helpDefaults(text: str) -> dict[str, str]:
    """
    Each option's C{[default: ...]} in C{--help}, by option name.
    """
    blocks = re.split(r"^\s+--", text, flags=re.MULTILINE)[1:]
    defaults = {}
    for block in blocks:
        name = re.match(r"[\w-]+", block).group(0)  # type: ignore[union-attr]
        joined = " ".join(line.strip() for line in block.splitlines())
        found = re.search(r"\[default: (.*?)\]", joined)
        if found:
            defaults[name] = found.group(1)
    return defaults


class CommandLineTests(SynchronousTestCase):
    """
    C{twistd hello} itself, as an operator runs it.
    """

    def assertStartupError(self, line: str, *arguments: str) -> None:
        """
        twistd ends with exit status 1, C{line} is the last line it wrote,
        and no traceback.
        """
        result = runHello(*arguments)
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 1, output)
        lastLine = output.strip().splitlines()[-1]
        self.assertIn(line, lastLine)
        self.assertNotIn("Traceback", output)

    def test_helpShowsEachDefault(self) -> None:
        """
        C{--help} shows every option with its own default.
        """
        result = runHello("--help")
        self.assertEqual(result.returncode, 0)
        self.assertEqual(helpDefaults(result.stdout), DOCUMENTED_DEFAULTS)

    def test_badOptionExits(self) -> None:
        """
        A bad value ends twistd with exit status 1 and a one-line reason.
        """
        self.assertStartupError(
            "--sleep: 'never' is not a number of seconds (0 or more)",
            "--sleep", "never",
        )  # fmt: skip
        self.assertStartupError(
            "--threads: '0' is not a whole number (1 or more)", "--threads", "0"
        )

    def test_missingPagesExits(self) -> None:
        """
        A pages directory that does not exist: exit 1, naming it.
        """
        self.assertStartupError(
            "pages directory not found: /nonexistent/pages",
            "--pages", "/nonexistent/pages",
        )  # fmt: skip

    def test_badEndpointExits(self) -> None:
        """
        A --listen description that does not parse: exit 1, quoting it.
        """
        self.assertStartupError("bad --listen 'bogus:1'", "--listen", "bogus:1")

    def test_portTakenExits(self) -> None:
        """
        A taken port ends twistd with exit status 1 and one line.
        """
        port = takenPort(self)
        self.assertStartupError(
            f"hello: cannot listen on tcp:{port}:interface=127.0.0.1: "
            f"Couldn't listen on 127.0.0.1:{port}: [Errno 98] Address already in use.",
            "--listen", f"tcp:{port}:interface=127.0.0.1",
        )  # fmt: skip

    def test_runsThisCheckout(self) -> None:
        """
        The twistd the tests start imports this checkout's package, whatever
        copy is installed.
        """
        result = subprocess.run(
            [sys.executable, "-c", "import hello_service; print(hello_service.__file__)"],
            capture_output=True, text=True, env=checkoutEnvironment(), cwd="/",
        )  # fmt: skip
        self.assertEqual(
            Path(result.stdout.strip()), CHECKOUT / "hello_service" / "__init__.py"
        )


class DescriptorLimitTests(SynchronousTestCase):
    """
    A server holds a descriptor per client, so it raises its soft limit on
    open files to the hard limit when it starts.
    """

    def test_raisedToHardLimit(self) -> None:
        """
        Started with a soft limit of 200 under a hard one of 400, it counts
        on 400 less its headroom of 100.
        """

        def lowerSoftLimit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (200, 400))

        process = startHello(self, preexec_fn=lowerSoftLimit)
        process.waitFor("at most 300 connections, by file descriptor limit")
        process.signal(signal.SIGTERM)
        process.wait()


class SocketActivationTests(SynchronousTestCase):
    """
    Deployed under systemd, the service takes the socket systemd listens on.
    """

    def test_systemdEndpoint(self) -> None:
        """
        With a listening socket passed as descriptor 3 and C{LISTEN_FDS},
        C{LISTEN_PID} and C{LISTEN_FDNAMES} set as systemd sets them, C{--listen
        systemd:domain=INET:index=0} serves on that socket.
        """
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        listening.listen(128)
        self.addCleanup(listening.close)
        port = listening.getsockname()[1]

        def asDescriptor3() -> None:
            os.dup2(listening.fileno(), 3)

        twistd = shlex.join(TWISTD)
        process = subprocess.Popen(
            ["sh", "-c",
             f"LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=hello exec {twistd} hello "
             "--listen systemd:domain=INET:index=0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=asDescriptor3, pass_fds=(3,), env=checkoutEnvironment(),
        )  # fmt: skip
        self.addCleanup(process.kill)
        client = socket.create_connection(("127.0.0.1", port), timeout=20)
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        client.close()
        process.terminate()
        output, _ = process.communicate(timeout=20)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), output)
        self.assertIn(b"serving on systemd:127.0.0.1:", output)
