# -*- test-case-name: tests.test_reactor,tests.system.test_reactors -*-
"""
Which reactor C{twistd -n hello} runs on: hello's by default, in the main
process and in every worker; the one C{-r} names when it names one,
workers included.  (The in-process tests run on both: trial on hello's
reactor, pytest on Twisted's, as the README's test command runs them.)
"""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from hello_service.handoff import reactorOf

from ..support.processes import HelloProcess, request, startHello

GET = b"GET / HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n"
HELLO = "hello_service.reactor.HelloEPollReactor"
STOCK = "twisted.internet.epollreactor.EPollReactor"
WORKERS = r"with 2 workers \(pids (\d+), (\d+)\)"


def workerReactors(process: HelloProcess) -> list[str]:
    """
    The reactor each worker was started with, as its settings name it.
    """
    found = process.waitFor(WORKERS)
    names = []
    for pid in found.groups():
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        settings = arguments[arguments.index(b"--settings") + 1].decode()
        names.append(reactorOf(settings))
    return names


class ReactorChoiceTests(SynchronousTestCase):
    def test_helloByDefault(self) -> None:
        process = startHello(self, reactor="")
        self.assertTrue(request(process.port(), GET).startswith(b"HTTP/1.1 200 OK"))
        self.assertIn(f"reactor class: {HELLO}.", process.output)

    def test_namedReactorKept(self) -> None:
        """
        C{twistd -r epoll -n hello} runs on Twisted's reactor, and so do its
        workers.
        """
        process = startHello(self, "--workers", "2", reactor="epoll")
        self.assertEqual(workerReactors(process), ["epoll", "epoll"])
        self.assertTrue(request(process.port(), GET).startswith(b"HTTP/1.1 200 OK"))
        self.assertIn(f"reactor class: {STOCK}.", process.output)
        self.assertNotIn(HELLO, process.output)

    def test_workersOnHellos(self) -> None:
        process = startHello(self, "--workers", "2", reactor="")
        self.assertEqual(workerReactors(process), ["hello", "hello"])
        self.assertIn(f"reactor class: {HELLO}.", process.output)
