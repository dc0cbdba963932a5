"""
The admin endpoint (metrics, readiness, liveness), C{--drain-delay} and
the access log's own file and JSON format.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from twisted.internet import error
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from hello_service.configuration.listening import StartupError
from hello_service.connection.limits import currentDescriptorLimit
from hello_service.processes.service import HelloService
from hello_service.tap import Options, makeService

from ..support.processes import request, startHello, takenPort
from ..support.tcp import closing, exchange, portOf, reactor, startService
from ..support.waiting import until


def sampleValues(text: str) -> dict[str, float]:
    """
    The samples of a Prometheus exposition, by name and labels.
    """
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


async def get(port: int, path: bytes) -> tuple[int, bytes]:
    answer, _ = await exchange(port, closing(path))
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def wait(seconds: float) -> None:
    await deferLater(reactor(), seconds, lambda: None)


class AdminTests(TestCase):
    def startWithAdmin(self, *arguments: str) -> tuple[int, int]:
        service = startService(self, "--admin", "tcp:0:interface=127.0.0.1", *arguments)
        self.service = service
        return portOf(service), service.operations.admin.ports[0].getHost().port  # type: ignore[attr-defined]

    async def test_metricsCountEachRoute(self) -> None:
        """
        C{/metrics} counts answers by route and status, puts answers that
        waited in the duration histogram, and offers the process metrics.
        """
        port, admin = self.startWithAdmin("--sleep", "0.3")
        for path in [b"/", b"/", b"/?x=1", b"/missing", b"/sleep"]:
            await get(port, path)
        await exchange(port, b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, body = await get(admin, b"/metrics")
        self.assertEqual(status, 200)
        values = sampleValues(body.decode())
        self.assertEqual(
            values['hello_requests_total{protocol="HTTP/1.1",route="/",status="200"}'],
            3,
        )
        self.assertEqual(
            values[
                'hello_requests_total{protocol="HTTP/1.1",route="/sleep",status="200"}'
            ],
            1,
        )
        self.assertEqual(
            values[
                'hello_requests_total{protocol="HTTP/1.1",route="other",status="404"}'
            ],
            1,
        )
        self.assertEqual(
            values[
                'hello_requests_total{protocol="HTTP/1.1",route="other",status="405"}'
            ],
            1,
        )
        duration = "hello_request_duration_seconds"
        self.assertEqual(values[duration + '_count{route="/"}'], 3)
        self.assertEqual(values[duration + '_bucket{le="0.001",route="/"}'], 3)
        self.assertEqual(values[duration + '_bucket{le="0.25",route="/sleep"}'], 0)
        self.assertEqual(values[duration + '_bucket{le="0.5",route="/sleep"}'], 1)
        self.assertGreaterEqual(values[duration + '_sum{route="/sleep"}'], 0.29)
        self.assertEqual(values[duration + '_count{route="other"}'], 2)
        self.assertEqual(values["hello_connections_open"], 0)
        self.assertIn("process_cpu_seconds_total", values)

    async def test_gaugesWhileBusy(self) -> None:
        """
        Open connections, requests in flight and the thread pool's busy and
        queued work show while a parallel C{/sleep} runs.
        """
        port, admin = self.startWithAdmin(
            "--parallel", "--threads", "1", "--sleep", "0.5"
        )
        slow = [exchange(port, closing(b"/sleep")) for _ in range(2)]
        await wait(0.2)
        _, body = await get(admin, b"/metrics")
        values = sampleValues(body.decode())
        self.assertEqual(values["hello_connections_open"], 2)
        self.assertEqual(values["hello_requests_in_flight"], 2)
        self.assertEqual(values["hello_threadpool_busy"], 1)
        self.assertEqual(values["hello_threadpool_queued"], 1)
        for answer in slow:
            await answer

    async def test_readyThenDrainDelay(self) -> None:
        """
        C{/ready} answers 200 while serving; told to stop with a drain delay,
        it answers 503 at once while the public port still serves, and the
        public port closes after the delay.  C{/live} answers 200 throughout.
        """
        port, admin = self.startWithAdmin("--drain-delay", "0.5")
        self.assertEqual((await get(admin, b"/ready"))[0], 200)
        self.assertEqual(await get(admin, b"/live"), (200, b"live\n"))
        started = reactor().seconds()
        stopped = ensureDeferred(self.service.stopService())  # type: ignore[arg-type]
        self.assertEqual(await get(admin, b"/ready"), (503, b"draining\n"))
        self.assertEqual(await get(admin, b"/live"), (200, b"live\n"))
        self.assertEqual((await get(port, b"/"))[0], 200)
        await stopped
        self.assertGreaterEqual(reactor().seconds() - started, 0.5)
        with self.assertRaises(error.ConnectionRefusedError):
            await get(port, b"/")


class AccessLogFileTests(SynchronousTestCase):
    def test_jsonLinesFromWorkers(self) -> None:
        """
        With C{--access-log PATH --access-log-format json} and two workers,
        each request is one JSON line in the file, naming its worker.
        """
        path = Path(self.mktemp()).resolve()
        process = startHello(
            self, "--workers", "2", "--access-log", str(path),
            "--access-log-format", "json",
        )  # fmt: skip
        port = int(process.waitFor(r"serving on tcp:127\.0\.0\.1:(\d+) with").group(1))
        for target in [b"/", b"/missing"]:
            request(port, b"GET " + target + b" HTTP/1.1\r\nHost: j\r\nUser-Agent: t\r\n"
                    b"Connection: close\r\n\r\n")  # fmt: skip
        until(lambda: len(path.read_text().splitlines()) >= 2, 10, "2 access lines")
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        # Two workers write their own batches: in the file, not in order.
        self.assertEqual(
            sorted(
                (e["method"], e["target"], e["status"], e["user_agent"]) for e in lines
            ),
            [("GET", "/", 200, "t"), ("GET", "/missing", 404, "t")],
        )
        for entry in lines:
            self.assertEqual(
                set(entry),
                {"time", "duration", "client", "method", "target", "version",
                 "status", "size", "referer", "user_agent", "worker", "pid"},
            )  # fmt: skip
            self.assertIn(entry["worker"], (1, 2))
            self.assertRegex(entry["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertTrue(0 <= entry["duration"] < 0.5, entry)
            self.assertIsNone(entry["referer"])
        self.assertNotRegex(process.output, re.compile("GET / HTTP/1.1"))


class AdminStartupTests(SynchronousTestCase):
    def test_takenAdminPortClosesEverything(self) -> None:
        """
        An admin port already taken is a one-line start-up error, and the
        public port opened before it is closed again.
        """
        taken = takenPort(self)
        options = Options()
        options.parseOptions(
            ["--listen", "tcp:0:interface=127.0.0.1",
             "--admin", f"tcp:{taken}:interface=127.0.0.1"]
        )  # fmt: skip
        service = makeService(options)
        assert isinstance(service, HelloService)
        service.descriptorLimit = currentDescriptorLimit  # type: ignore[method-assign]
        with self.assertRaises(StartupError) as raised:
            service.privilegedStartService()
        self.assertIn(f"hello: cannot listen on tcp:{taken}", str(raised.exception))
        self.assertEqual(service.ports, [])


class WorkerFiguresTests(SynchronousTestCase):
    def test_eachWorkersFigures(self) -> None:
        """
        With C{--workers 2}, C{/metrics} shows each worker's resident memory
        (as its C{/proc} says, within a tenth), CPU time, descriptors and
        reactor lag, beside the main process's lag; C{promtool} finds
        nothing wrong with it.
        """
        process = startHello(
            self, "--workers", "2", "--admin", "tcp:0:interface=127.0.0.1"
        )
        found = process.waitFor(r"with 2 workers \(pids (\d+), (\d+)\)")
        pids = [int(found.group(1)), int(found.group(2))]
        admin = process.adminPort()

        def fromEveryWorker() -> str:
            """
            The metrics, once each worker has reported its figures.
            """
            text = (
                request(
                    admin,
                    b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                )
                .partition(b"\r\n\r\n")[2]
                .decode()
            )
            values = sampleValues(text)
            every = all(
                values.get(f'hello_worker_cpu_seconds_total{{worker="{slot}"}}', 0) > 0
                for slot in (1, 2)
            )
            return text if every else ""

        text = until(fromEveryWorker, 10, "a report from each worker", every=0.2)
        values = sampleValues(text)
        for slot, pid in enumerate(pids, 1):
            with open(f"/proc/{pid}/status") as status:
                rss = next(
                    int(line.split()[1]) * 1024
                    for line in status
                    if line.startswith("VmRSS")
                )
            reported = values[f'hello_worker_resident_memory_bytes{{worker="{slot}"}}']
            self.assertLess(abs(reported - rss), rss / 10, (slot, reported, rss))
            self.assertGreater(
                values[f'hello_worker_cpu_seconds_total{{worker="{slot}"}}'], 0
            )
            self.assertGreater(values[f'hello_worker_open_fds{{worker="{slot}"}}'], 3)
            self.assertLess(
                values[f'hello_reactor_lag_seconds{{process="worker-{slot}"}}'], 1
            )
        self.assertIn('hello_reactor_lag_seconds{process="main"}', values)
        promtool = shutil.which("promtool")
        if promtool is None:
            raise SkipTest("promtool is missing (Debian: prometheus); the rest passed")
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        self.assertEqual((checked.returncode, checked.stdout + checked.stderr), (0, ""))
