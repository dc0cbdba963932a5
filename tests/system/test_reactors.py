# -*- test-case-name: tests.test_reactor,tests.system.test_reactors -*-
"""
Which reactor C{twistd -n hello} runs on: hello's by default, in the main
process and in every worker; the one C{-r} names when it names one,
workers included.  (The in-process tests run on both: trial on hello's
reactor, pytest on Twisted's, as the README's test command runs them.)
"""

from __future__ import annotations

import socket
import statistics
import time
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from hello_service.processes.handoff import reactorOf

from ..support.processes import HelloProcess, request, startHello

GET = b"GET / HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n"
HELLO = "hello_service.connection.reactor.HelloEPollReactor"
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


class LastAnswerTests(SynchronousTestCase):
    def test_lastAnswerNotHeld(self) -> None:
        """
        The last answer of a connection, sent with C{MSG_MORE} so that its
        FIN shares its segment, still arrives at once, closed: the kernel
        would hold it 200 ms if no close followed.  Answered within the
        read (C{GET /}) and on a later turn (C{GET /sleep}, 50 ms) alike.
        """
        process = startHello(self, "--sleep", "0.05", reactor="")
        port = process.port()
        for path, delay in ((b"/", 0.0), (b"/sleep", 0.05)):
            ask = b"GET " + path + b" HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n"
            request(port, ask)  # warm
            took = []
            for _ in range(5):
                started = time.monotonic()
                answer = request(port, ask)
                took.append(time.monotonic() - started)
                self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK"), answer[:40])
                self.assertTrue(answer.endswith(b"</html>\n"), answer[-40:])
            self.assertLess(statistics.median(took), delay + 0.15, (path, took))
        # Answers that are not the last are not held either.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            took = []
            for _ in range(5):
                started = time.monotonic()
                client.sendall(b"GET / HTTP/1.1\r\nHost: r\r\n\r\n")
                received = b""
                while not received.endswith(b"</html>\n"):
                    chunk = client.recv(65536)
                    self.assertTrue(chunk, "closed")
                    received += chunk
                took.append(time.monotonic() - started)
            self.assertLess(statistics.median(took), 0.15, took)
