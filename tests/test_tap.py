# -*- test-case-name: tests.test_tap -*-
"""
The plugin, its options, and the service they make.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
from pathlib import Path

from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactor
from twisted.plugin import getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase, TestCase

from hello_service.service import HelloService, StartupError
from hello_service.tap import DEFAULT_LISTEN, Options, makeService

from .processes import TWISTD, takenPort


def parse(*arguments: str) -> Options:
    options = Options()
    options._reactor = MemoryReactor()
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
            (options["sleep"], options["threads"], options["max-connections"]),
            (0.25, 4, 100),
        )

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
        self.assertEqual(parse("--pages", str(directory))["loadedPages"].hello, b"hi")


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


class CommandLineTests(SynchronousTestCase):
    """
    C{twistd hello} itself, as an operator runs it.
    """

    def twistd(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TWISTD, "hello", *arguments], capture_output=True, text=True, timeout=30
        )

    def test_helpShowsDefaults(self) -> None:
        """
        C{--help} documents every option with its default.
        """
        result = self.twistd("--help")
        self.assertEqual(result.returncode, 0)
        for option, default in [
            ("--listen", DEFAULT_LISTEN),
            ("--sleep", "5.0"),
            ("--threads", "10"),
            ("--max-connections", "0"),
            ("--shutdown-timeout", "30.0"),
            ("--header-timeout", "10.0"),
            ("--idle-timeout", "15.0"),
            ("--max-body-size", "65536"),
        ]:
            self.assertIn(option, result.stdout)
            self.assertIn(default, result.stdout.replace("\n", "").replace(" ", ""))

    def test_badOptionExits(self) -> None:
        """
        A bad value ends twistd with a non-zero exit and a one-line reason.
        """
        result = self.twistd("--sleep", "never")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(
            "--sleep: 'never' is not a number of seconds", result.stdout + result.stderr
        )
        self.assertNotIn("Traceback", result.stdout + result.stderr)

    def test_portTakenExits(self) -> None:
        """
        A taken port ends twistd with a non-zero exit and one line, no
        traceback.
        """
        result = self.twistd("--listen", f"tcp:{takenPort(self)}:interface=127.0.0.1")
        self.assertNotEqual(result.returncode, 0)
        # twistd logs what reaches stderr once logging has begun.
        self.assertIn("hello: cannot listen on", result.stdout + result.stderr)
        self.assertIn("Address already in use", result.stdout + result.stderr)
        self.assertNotIn("Traceback", result.stdout + result.stderr)


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
            preexec_fn=asDescriptor3, pass_fds=(3,),
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
