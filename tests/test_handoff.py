"""
Tests for L{hello_service.processes.handoff}, the contract between the supervisor and
its workers: every setting is either sent or declared the supervisor's own,
what is sent arrives as it left, the command line is built and parsed by
one definition, and a worker loads nothing of the supervisor, and says in
one line why it cannot start.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from hello_service.configuration.config import Config
from hello_service.connection.deadlines import Timeouts
from hello_service.connection.http2.defences import HTTP2Settings
from hello_service.connection.http3.settings import HTTP3Settings
from hello_service.http.pages import loadPages
from hello_service.http.requests import RequestLimits
from hello_service.processes.handoff import (
    BOOT_ERROR,
    NOT_SENT,
    InheritedSocket,
    WorkerArguments,
    decodeSettings,
    encodeSettings,
    reactorOf,
    sentFields,
)
from hello_service.tap import Options

from .test_layout import loadedBy

ROOT = Path(__file__).parent.parent
PAGES = ROOT / "hello_service" / "http" / "pages"

#: A value for every sent field but the pages (a copy made by the test),
#: none of them its default: a field added to
#: Config is sent, and this test fails until it is given one here (or is
#: declared in NOT_SENT), so a forgotten setting cannot keep its default in
#: the workers unnoticed.
EVERY_SENT_FIELD = {
    "sleep": 1.5,
    "parallel": True,
    "threads": 7,
    "maxConnections": 9,
    "shutdownTimeout": 4.0,
    "timeouts": Timeouts(header=2.0, idle=3.0, write=5.0, linger=0.5, drain=0.25),
    "requestLimits": RequestLimits(
        maxRequestLine=100, maxHead=200, maxHeaders=3, maxBody=11
    ),
    "cacheControl": b"no-cache",
    "accessLog": "/tmp/a.log",
    "accessLogFormat": "json",
    "forwardedAllowIps": "10.0.0.0/8",
    "accessLogOff": True,
    "twistdLog": "-",
    "accessLogDescriptor": 5,
    "reactor": "epoll",
    "http2": HTTP2Settings(maxConcurrentStreams=7, maxHeaderListSize=999),
    # The Retry key above all: every worker seals and opens the same tokens.
    "http3": HTTP3Settings(retryAbove=3, retryKey="00" * 16),
}


class SettingsTests(SynchronousTestCase):
    def test_everyFieldSentOrDeclared(self) -> None:
        """
        Each field of L{Config} is sent to the workers or declared the
        supervisor's own (with a reason), never both, and the declared ones
        are real fields.
        """
        fields = {field.name for field in dataclasses.fields(Config)}
        self.assertEqual(set(NOT_SENT) - fields, set())
        self.assertEqual(set(sentFields()), fields - set(NOT_SENT))
        self.assertTrue(all(reason for reason in NOT_SENT.values()))

    def test_everySentFieldArrives(self) -> None:
        """
        A configuration whose every sent field differs from its default
        reaches the worker field for field.
        """
        pages = Path(self.mktemp())
        shutil.copytree(PAGES, pages)
        every = {"pages": loadPages(str(pages)), **EVERY_SENT_FIELD}
        self.assertEqual(set(every), set(sentFields()))
        defaults = Config(endpoints=(), pages=loadPages(None))
        for name, value in every.items():
            self.assertNotEqual(getattr(defaults, name), value, name)
        config = dataclasses.replace(defaults, **every)
        self.assertEqual(decodeSettings(encodeSettings(config)), every)

    def test_supervisorsOwnNotSent(self) -> None:
        """
        What only the supervisor does (workers, admin, drain delay) does not
        reach a worker, and the per-worker override does.
        """
        options = Options(reactor=MemoryReactor(), environ={})
        options.parseOptions(
            ["--workers", "3", "--admin", "tcp:0", "--drain-delay", "2"]
        )
        assert options.config is not None
        text = encodeSettings(options.config, accessLogDescriptor=7)
        for name in NOT_SENT:
            self.assertNotIn(f'"{name}"', text)
        self.assertEqual(decodeSettings(text)["accessLogDescriptor"], 7)
        off = dataclasses.replace(options.config, http2=None)
        self.assertIsNone(decodeSettings(encodeSettings(off))["http2"])
        self.assertEqual(reactorOf(text), options.config.reactor)


class ArgumentsTests(SynchronousTestCase):
    def test_commandLineRoundTrip(self) -> None:
        """
        The command line the supervisor builds is the one the worker parses.
        """
        arguments = WorkerArguments(
            2,
            (
                InheritedSocket(3, "INET", "tcp:7878:interface=127.0.0.1"),
                InheritedSocket(4, "UNIX", "unix:/run/hello.sock"),
            ),
            '{"a": 1}',
            (InheritedSocket(5, "INET", "ssl:8443:privateKey=k.pem"),),
        )
        argv = arguments.argv("/usr/bin/python3")
        self.assertEqual(
            argv[:5], ["/usr/bin/python3", "-m", "hello_service.worker", "--slot", "2"]
        )
        self.assertEqual(WorkerArguments.parse(argv[3:]), arguments)

    def test_unknownFamilyRefused(self) -> None:
        """
        An inherited socket of a family the worker does not know is refused.
        """
        with self.assertRaises(ValueError):
            InheritedSocket.fromArgument("3:APPLETALK:tcp:1")


def runWorker(
    *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hello_service.worker", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


class WorkerProcessTests(SynchronousTestCase):
    def test_workerLoadsNothingOfTheSupervisor(self) -> None:
        """
        What a worker imports to serve brings neither the supervisor, the
        admin site nor C{prometheus_client}, and needs no pyOpenSSL (here
        made impossible to import, as in a plain install).
        """
        loaded = loadedBy(
            "import sys; sys.modules['OpenSSL'] = None\n"
            "import hello_service.worker, hello_service.processes.handoff, "
            "hello_service.processes.adopted, hello_service.processes.service"
        )
        for module in (
            "hello_service.processes.supervisor",
            "hello_service.operations.admin",
            "prometheus_client",
        ):
            self.assertNotIn(module, loaded)

    def test_workerModuleImportsOnlyTheStandardLibrary(self) -> None:
        """
        The worker's module imports only the standard library at its top,
        so that any import that fails happens inside its boot-error guard.
        """
        tree = ast.parse((ROOT / "hello_service" / "worker.py").read_text())
        top = set()
        for node in tree.body:
            if isinstance(node, ast.Import):
                top.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                top.add(node.module.split(".")[0])
        self.assertEqual(top - set(sys.stdlib_module_names), set())

    def test_badSettingsAreABootError(self) -> None:
        """
        A worker that cannot start says why in one line on standard error
        and exits with the boot-error status.
        """
        ended = runWorker("--slot", "1", "--settings", "{not json")
        self.assertEqual(ended.returncode, BOOT_ERROR)
        self.assertEqual(ended.stderr.count("\n"), 1)
        self.assertRegex(ended.stderr, r"^JSONDecodeError: Expecting")

    def test_failedImportIsABootError(self) -> None:
        """
        A module the worker cannot import is a boot error too, said as the
        traceback's last line would say it.
        """
        site = self.mktemp()
        os.makedirs(site)
        Path(site, "sitecustomize.py").write_text(
            "import sys\nsys.modules['hello_service.processes.service'] = None\n"
        )
        settings = encodeSettings(
            Config(endpoints=(), pages=loadPages(None), twistdLog="-")
        )
        ended = runWorker(
            "--slot",
            "1",
            "--settings",
            settings,
            env={"PYTHONPATH": os.pathsep.join([site, str(ROOT)])},
        )
        self.assertEqual(
            (ended.returncode, ended.stderr),
            (
                BOOT_ERROR,
                "ModuleNotFoundError: import of hello_service.processes.service halted; "
                "None in sys.modules\n",
            ),
        )


class DescriptorLayoutTests(SynchronousTestCase):
    def test_layout(self) -> None:
        """
        A worker starts with the supervisor's pipe on 0, its output and
        error read by the supervisor, its sockets from 3 in C{--listen}
        order, then its UDP sockets of HTTP/3, then the supervisor's
        standard output for the access lines when asked.
        """
        from hello_service.processes.handoff import InheritedSocket, workerDescriptors

        childFDs, inherited, datagrams, accessLog = workerDescriptors(
            [(17, "INET", "tcp:80"), (18, "UNIX", "unix:/s")],
            accessLogToOutput=True,
            datagrams=[(19, "INET", "ssl:443")],
        )
        self.assertEqual(childFDs, {0: "w", 1: "r", 2: "r", 3: 17, 4: 18, 5: 19, 6: 1})
        self.assertEqual(
            inherited,
            (
                InheritedSocket(3, "INET", "tcp:80"),
                InheritedSocket(4, "UNIX", "unix:/s"),
            ),
        )
        self.assertEqual(datagrams, (InheritedSocket(5, "INET", "ssl:443"),))
        self.assertEqual(accessLog, 6)
        self.assertEqual(
            workerDescriptors([(17, "INET", "tcp:80")], accessLogToOutput=False)[3],
            None,
        )
