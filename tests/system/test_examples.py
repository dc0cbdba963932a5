"""
The lesson's three stages (C{examples/}), each proving its lesson from
outside, as real processes on 127.0.0.1 timed from a client: stage 1
serialises, stage 2 overlaps and holds connections past its limit in the
listen backlog, stage 3 runs the work in waves of its threads while the
reactor goes on reading.  Each answers C{GET /} and a 404 with the
service's own status lines and pages.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from benchmarks.harness import ServerProcess

from ..support.processes import CHECKOUT, checkoutEnvironment, request, startHello

EXAMPLES = CHECKOUT / "examples"
SLEEP = b"GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n"
GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def startExample(
    test: SynchronousTestCase, name: str, *arguments: str
) -> tuple[ServerProcess, int]:
    """
    C{python examples/NAME.py --port 0 ARGUMENTS}: the process (stopped by
    its PID when the test ends) and its port.
    """
    server = ServerProcess(
        [sys.executable, str(EXAMPLES / f"{name}.py"), "--port", "0", *arguments],
        env=checkoutEnvironment(),
    )
    test.addCleanup(server.stop)
    return server, server.port()


class Timed:
    """
    Requests sent on connections of their own, each answered in a thread:
    when each was answered, in seconds from L{start}, and with what.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.start = time.monotonic()
        self.answers: dict[int, tuple[float, bytes]] = {}
        self._threads: list[threading.Thread] = []

    def send(self, number: int, data: bytes) -> socket.socket:
        client = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        client.sendall(data)
        thread = threading.Thread(target=self._read, args=(number, client))
        thread.start()
        self._threads.append(thread)
        return client

    def _read(self, number: int, client: socket.socket) -> None:
        answer = b""
        with client:
            while chunk := client.recv(65536):
                answer += chunk
        self.answers[number] = (time.monotonic() - self.start, answer)

    def wait(self) -> list[float]:
        """
        Wait for every answer; the times, in the order sent, each checked
        to be a 200.
        """
        for thread in self._threads:
            thread.join(60)
        for _, answer in self.answers.values():
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:60]
        return [self.answers[n][0] for n in sorted(self.answers)]


def acceptQueue(port: int) -> int:
    """
    How many connections wait, unaccepted, in the listen backlog of the
    socket listening on 127.0.0.1:C{port} (for a listening socket the
    kernel shows its accept queue as its receive queue).
    """
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            return int(queues.split(":")[1], 16)
    raise AssertionError(f"nothing listens on port {port}")


class SameAnswersTests(SynchronousTestCase):
    def test_sameStatusLinesAndPagesAsTheService(self) -> None:
        """
        Each stage answers C{GET /} and an unknown path with the status line
        and the body the service answers them with.
        """
        service = startHello(self).port()

        def parts(port: int, target: bytes) -> tuple[bytes, bytes]:
            answer = request(port, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n"
                             b"Connection: close\r\n\r\n")  # fmt: skip
            head, _, body = answer.partition(b"\r\n\r\n")
            return head.split(b"\r\n", 1)[0], body

        expected = [parts(service, b"/"), parts(service, b"/nothing")]
        self.assertEqual(expected[0][0], b"HTTP/1.1 200 OK")
        self.assertEqual(expected[1][0], b"HTTP/1.1 404 NOT FOUND")
        for name in ("stage1_one_at_a_time", "stage2_concurrent", "stage3_parallel"):
            server, port = startExample(self, name)
            self.assertEqual([parts(port, b"/"), parts(port, b"/nothing")], expected)


class StageOneTests(SynchronousTestCase):
    def test_oneAtATime(self) -> None:
        """
        Three simultaneous C{/sleep} (0.4 s) take about three delays, and a
        C{GET /} sent just after them waits behind at least one.
        """
        server, port = startExample(self, "stage1_one_at_a_time", "--sleep", "0.4")
        timed = Timed(port)
        for number in range(3):
            timed.send(number, SLEEP)
        time.sleep(0.05)
        timed.send(3, GET)
        sleeps, hello = timed.wait()[:3], timed.wait()[3]
        self.assertGreaterEqual(max(sleeps), 3 * 0.4 * 0.9)
        self.assertGreaterEqual(hello, 0.4 * 0.9)


class StageTwoTests(SynchronousTestCase):
    def test_concurrent(self) -> None:
        """
        Twenty simultaneous C{/sleep} (1 s) take about one delay, and a
        C{GET /} sent meanwhile is answered at once.
        """
        server, port = startExample(self, "stage2_concurrent", "--sleep", "1")
        timed = Timed(port)
        for number in range(20):
            timed.send(number, SLEEP)
        time.sleep(0.1)
        timed.send(20, GET)
        times = timed.wait()
        self.assertGreaterEqual(min(times[:20]), 0.9)
        self.assertLess(max(times[:20]), 1.8)
        self.assertLess(times[20], 0.1 + 0.4)

    def test_limitHoldsTheRestInTheBacklog(self) -> None:
        """
        With C{--limit 2}, of four C{/sleep} (1 s) the first two are served
        at once and the other two wait, unaccepted, in the listen backlog
        (none refused); they are answered a delay later.
        """
        server, port = startExample(
            self, "stage2_concurrent", "--sleep", "1", "--limit", "2"
        )
        timed = Timed(port)
        for number in range(4):
            timed.send(number, SLEEP)
            time.sleep(0.05)  # each connection its own wake-up of the reactor
        time.sleep(0.3)
        self.assertEqual(acceptQueue(port), 2)
        times = timed.wait()
        self.assertLess(max(times[:2]), 1.6)
        self.assertGreaterEqual(min(times[2:]), 1.9)
        self.assertLess(max(times[2:]), 2.8)
        self.assertEqual(acceptQueue(port), 0)


class StageThreeTests(SynchronousTestCase):
    def test_wavesOfThreads(self) -> None:
        """
        With 2 threads, five simultaneous C{/sleep} (0.5 s) finish in
        ceil(5/2) = 3 waves of one delay each.
        """
        server, port = startExample(
            self, "stage3_parallel", "--sleep", "0.5", "--threads", "2"
        )
        timed = Timed(port)
        for number in range(5):
            timed.send(number, SLEEP)
        times = sorted(timed.wait())
        waves = [round(when / 0.5) for when in times]
        self.assertEqual(waves, [1, 1, 2, 2, 3], times)

    def test_reactorReadsWhileEveryThreadIsBusy(self) -> None:
        """
        While both threads sleep, a C{GET /} is accepted and read at once
        (the reactor is free), but answered only when a thread frees: its
        work waits in the pool's queue.
        """
        server, port = startExample(
            self, "stage3_parallel", "--sleep", "1", "--threads", "2"
        )
        timed = Timed(port)
        timed.send(0, SLEEP)
        timed.send(1, SLEEP)
        time.sleep(0.2)
        mark = len(server.output)
        timed.send(2, GET)
        read = time.monotonic()
        server.waitFor(r"read b'/'\n", seconds=5, after=mark)
        self.assertLess(time.monotonic() - read, 0.3)
        times = timed.wait()
        self.assertGreaterEqual(times[2], 0.9)
        self.assertLess(times[2], 1.6)
        self.assertTrue(re.search(r"read b'/sleep'", server.output))
