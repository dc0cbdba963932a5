# -*- test-case-name: tests.test_tap -*-
"""
The plugin, its options, and the service they make.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase, TestCase

from hello_service import __version__
from hello_service.configuration.listening import StartupError
from hello_service.processes.service import HelloService
from hello_service.tap import Options, makeService, versionLine

from ..support import launching
from ..support.processes import (
    CHECKOUT,
    checkoutEnvironment,
    runHello,
    takenPort,
)

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
    "no-access-log": "off, one line per request",
    "worker-timeout": "10.0",
    "forwarded-allow-ips": "none",
    "max-concurrent-streams": "100",
    "max-requests": "0",
    "max-requests-jitter": "0",
    "max-worker-memory": "none",
    "no-http2": "off: HTTP/2 too, by ALPN over TLS and by its preface in cleartext",
    "http3": "off",
    "http3-retry-above": "64",
}


def helpDefaults(text: str) -> dict[str, str]:
    """
    Each option's C{[default: ...]} in C{--help}, by option name.
    """
    # An option starts at the options' own indent (its description's
    # lines, which may begin with "--parallel" too, are indented further);
    # a value cut at its hyphen by the wrapping is joined again.
    blocks = re.split(r"^ {6}--", text, flags=re.MULTILINE)[1:]
    defaults = {}
    for block in blocks:
        name = re.match(r"[\w-]+", block).group(0)  # type: ignore[union-attr]
        block = re.sub(r"-\n\s+", "-", block)
        joined = " ".join(line.strip() for line in block.splitlines())
        found = re.search(r"\[default: (.*?)\]", joined)
        if found:
            defaults[name] = found.group(1)
    return defaults


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

    def assertStartupError(self, line: str, *arguments: str) -> None:
        """
        twistd ends with exit status 1 and exactly C{hello: } and C{line} on
        standard error, nothing on standard output (no usage text, no
        traceback).
        """
        result = runHello(*arguments)
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 1, output)
        self.assertEqual(result.stdout, "")
        self.assertEqual(result.stderr.splitlines(), [f"hello: {line}"])

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
            "--pages: pages directory not found: /nonexistent/pages "
            "(a directory holding hello.html and 404.html)",
            "--pages", "/nonexistent/pages",
        )  # fmt: skip

    def test_badEndpointExits(self) -> None:
        """
        A --listen description that does not parse: exit 1, quoting it.
        """
        self.assertStartupError(
            "--listen: 'bogus:1': unknown endpoint type 'bogus' "
            "(one of tcp, tcp6, ssl, unix, systemd, haproxy:...)",
            "--listen", "bogus:1",
        )  # fmt: skip
        self.assertStartupError(
            "--listen: 'tcp:notaport': port 'notaport' is not a number "
            "from 0 to 65535",
            "--listen", "tcp:notaport",
        )  # fmt: skip

    def test_unknownOptionExits(self) -> None:
        """
        An unknown option: exit 1 and one line naming the nearest option.
        """
        self.assertStartupError(
            "--slep: no such option (did you mean --sleep?)", "--slep", "1"
        )

    def test_badOptionWithWorkersExits(self) -> None:
        """
        With C{--workers}, a bad option is refused the same way, before any
        worker starts.
        """
        self.assertStartupError(
            "--access-log: cannot write /proc/nope/x: No such file or directory",
            "--workers", "2", "--access-log", "/proc/nope/x",
        )  # fmt: skip

    def test_version(self) -> None:
        """
        C{--version} names hello_service's version, then Twisted's and
        Python's.
        """
        result = runHello("--version")
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout.strip(), versionLine())
        self.assertTrue(result.stdout.startswith(f"hello_service {__version__} "))

    def test_portTakenExits(self) -> None:
        """
        A taken port ends twistd with exit status 1 and one line.
        """
        port = takenPort(self)
        result = runHello("--listen", f"tcp:{port}:interface=127.0.0.1")
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 1, output)
        # The port is found taken once twistd logs, so the line is its log's
        # last, after the start-up lines.
        self.assertTrue(
            output.strip()
            .splitlines()[-1]
            .endswith(
                f"hello: cannot listen on tcp:{port}:interface=127.0.0.1: "
                f"Couldn't listen on 127.0.0.1:{port}: [Errno 98] Address "
                f"already in use."
            ),
            output,
        )
        self.assertNotIn("Traceback", output)

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

        twistd = shlex.join(launching.TWISTD)
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
