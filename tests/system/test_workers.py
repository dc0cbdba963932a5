# -*- test-case-name: tests.test_workers -*-
"""
C{--workers N}: real C{twistd -n hello} processes on 127.0.0.1, their
workers killed and signalled under steady, bounded load.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from hello_service.tap import Options

from ..support.load import SteadyLoad
from ..support.processes import (
    CHECKOUT,
    HelloProcess,
    checkoutEnvironment,
    connectionsByProcess,
    helloCommand,
    openConnections,
    readUntilClosed,
    request,
    startHello,
)
from ..support.waiting import until

SERVING = r"serving on tcp:127\.0\.0\.1:(\d+) with 2 workers \(pids (\d+), (\d+)\)"
SLEEP = b"GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n"
GET = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
HTTP_OK = re.compile(rb"HTTP/1\.1 200 OK\r\n")

#: A C{sitecustomize} that makes a worker unable to start (it cannot import
#: the service), in the workers only.
BREAK_WORKERS = """\
import sys
if "hello_service.worker" in sys.orig_argv:
    sys.modules["hello_service.processes.service"] = None
"""

#: A C{sitecustomize} that makes pyOpenSSL impossible to import, as in a
#: plain install.
NO_PYOPENSSL = "import sys\nsys.modules['OpenSSL'] = None\n"


def customizedEnvironment(
    test: SynchronousTestCase, sitecustomize: str
) -> dict[str, str]:
    """
    The environment of a child of this checkout whose interpreter runs
    C{sitecustomize} first (from a folder the test makes).
    """
    site = Path(test.mktemp())
    site.mkdir()
    (site / "sitecustomize.py").write_text(sitecustomize)
    return checkoutEnvironment(PYTHONPATH=os.pathsep.join([str(site), str(CHECKOUT)]))


def readyStatus(port: int) -> int:
    """
    What C{GET /ready} answers on the admin port (0: nothing listens).
    """
    try:
        answer = request(port, b"GET /ready HTTP/1.0\r\n\r\n", timeout=2)
    except OSError:
        return 0
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def gone(pid: int) -> bool:
    """
    Whether process C{pid} has ended (a zombie counts as ended).
    """
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def heldOnce(port: int, pids: list[int], count: int) -> dict[int, int]:
    """
    The connections each of C{pids} holds on C{port}, once C{count} of them
    are held in all (the clients connected; the workers may not have
    accepted every one yet).
    """

    def held() -> dict[int, int] | None:
        byProcess = connectionsByProcess(port, pids)
        return byProcess if sum(byProcess.values()) >= count else None

    return until(held, 5, f"{count} connections accepted")


def letGo(port: int, pids: list[int]) -> None:
    """
    Wait until none of C{pids} holds a connection on C{port} any longer:
    the clients closed theirs, and the next round counts only its own.
    """
    until(
        lambda: sum(connectionsByProcess(port, pids).values()) == 0,
        5,
        "the workers let go of the last round's connections",
    )


def waitUntilGone(pids: list[int], seconds: float) -> float:
    """
    Wait until every process of C{pids} has ended; how long it took.
    """
    started = time.monotonic()
    until(lambda: all(gone(pid) for pid in pids), seconds, f"processes {pids} ended")
    return time.monotonic() - started


def processFigures(pid: int) -> dict[str, int]:
    """
    A process's open descriptors, threads and resident memory, from /proc.
    """
    status = Path(f"/proc/{pid}/status").read_text()
    return {
        "descriptors": len(list(Path(f"/proc/{pid}/fd").iterdir())),
        "threads": int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1)),  # type: ignore[union-attr]
        "rss": int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1)) * 1024,  # type: ignore[union-attr]
    }


class WorkersTestCase(SynchronousTestCase):
    def startWorkers(
        self, *arguments: str, **popen: Any
    ) -> tuple[HelloProcess, int, list[int]]:
        """
        C{twistd -n hello --workers 2 ARGUMENTS}: the process, its port and
        its workers' PIDs once both serve.
        """
        process = startHello(self, "--workers", "2", *arguments, **popen)
        found = process.waitFor(SERVING)
        pids = [int(found.group(2)), int(found.group(3))]
        self.addCleanup(self.killAll, pids)
        return process, int(found.group(1)), pids

    def killAll(self, pids: list[int]) -> None:
        for pid in pids:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


class SpreadTests(WorkersTestCase):
    def test_bothServeWithinTheirFairShare(self) -> None:
        """
        100 keep-alive connections opened at once are all answered, and
        neither of 2 workers holds more than 1.5 times its share of 50.
        """
        process, port, pids = self.startWorkers()
        for _ in range(3):
            clients = openConnections(port, 100)
            held = heldOnce(port, pids, 100)
            for client in clients:
                client.close()
            self.assertEqual(sum(held.values()), 100, held)
            self.assertLessEqual(max(held.values()), 75, held)
            self.assertGreater(min(held.values()), 0, held)
            letGo(port, pids)


class SupervisionTests(WorkersTestCase):
    def test_killedWorkerIsReplaced(self) -> None:
        """
        SIGKILL of a worker under steady load: at most the requests it had
        in flight fail (one per client), the death is logged with its
        signal, and a new worker takes its place and serves.
        """
        process, port, pids = self.startWorkers()
        mark = len(process.output)
        with SteadyLoad(port, clients=4, rate=50, seconds=30) as load:
            load.answered(100)
            os.kill(pids[0], signal.SIGKILL)
            process.waitFor(
                rf"worker 1 \(pid {pids[0]}\) killed by signal 9 \(SIGKILL\); "
                r"starting a new one",
                after=mark,
            )
            replacement = int(
                process.waitFor(r"worker 1 \(pid (\d+)\) serving", after=mark).group(1)
            )
            self.addCleanup(self.killAll, [replacement])
            load.answered(100)
        result = load.result
        self.assertLessEqual(result.failed, 4, result.failures)
        self.assertGreater(result.ok, 100)
        clients = openConnections(port, 100)
        held = connectionsByProcess(port, [replacement, pids[1]])
        for client in clients:
            client.close()
        self.assertGreater(held[replacement], 0, held)

    def test_crashLoopGivesUp(self) -> None:
        """
        Workers that keep dying after they served make the main process give
        up on the fifth death within a minute, with exit status 1 and one
        clear line, leaving no worker.
        """
        process, port, pids = self.startWorkers()
        killed: list[int] = []
        for round in range(5):
            serving = process.waitFor(
                r"worker 1 \(pid (\d+)\) serving",
                after=len(process.output) if round else 0,
            )
            if round == 0:
                worker = pids[0]
            else:
                worker = int(serving.group(1))
            os.kill(worker, signal.SIGKILL)
            killed.append(worker)
            if round < 4:
                process.waitFor(rf"started worker 1 \(pid (?!{worker}\b)\d+\)", 30)
        self.assertEqual(process.wait(60), 1)
        self.assertIn(
            "hello: workers died 5 times within 60 s; giving up", process.output
        )
        waitUntilGone(pids + killed, 10)

    def test_workerThatCannotStartStopsEverything(self) -> None:
        """
        A worker that cannot start (its pages gone since the main process
        checked them) stops the whole service at once: one line naming the
        cause, exit status 1, no second attempt, no traceback.
        """
        pages = Path(self.mktemp())
        shutil.copytree(CHECKOUT / "hello_service" / "http" / "pages", pages)
        process, port, pids = self.startWorkers("--pages", str(pages))
        shutil.rmtree(pages)
        os.kill(pids[0], signal.SIGKILL)
        self.assertEqual(process.wait(60), 1)
        lines = process.output.splitlines()
        critical = [line for line in lines if "#critical]" in line]
        self.assertEqual(len(critical), 1, process.output)
        self.assertRegex(
            critical[0], r"hello: worker 1 could not start: .*pages directory not found"
        )
        self.assertEqual(process.output.count("started worker 1"), 2)  # no retry
        self.assertNotIn("Traceback", process.output)
        waitUntilGone(pids, 10)

    def test_workerThatCannotImportEndsTheStart(self) -> None:
        """
        Workers that die at import, before serving, end the start within a
        few seconds: one line with the exception's last line, exit status
        1, no traceback relayed, no backoff, and C{/ready} never 200.
        """
        started = time.monotonic()
        process = startHello(
            self,
            "--workers",
            "2",
            "--admin",
            "tcp:0:interface=127.0.0.1",
            env=customizedEnvironment(self, BREAK_WORKERS),
        )
        admin = process.adminPort()
        readiness = []
        while process.process.poll() is None and time.monotonic() - started < 20:
            readiness.append(readyStatus(admin))
            time.sleep(0.05)
        self.assertEqual(process.wait(5), 1)
        self.assertLess(time.monotonic() - started, 15)
        self.assertNotIn(200, readiness)
        critical = [
            line for line in process.output.splitlines() if "#critical]" in line
        ]
        self.assertEqual(len(critical), 1, process.output)
        self.assertRegex(
            critical[0],
            r"hello: worker [12] could not start: ModuleNotFoundError: import of "
            r"hello_service\.processes\.service halted; None in sys\.modules$",
        )
        self.assertNotIn("Traceback", process.output)
        self.assertNotIn("starting a new one", process.output)
        self.assertNotIn("serving on", process.output)

    def test_servesWithoutPyOpenSSL(self) -> None:
        """
        With pyOpenSSL impossible to import, as in a plain install, two
        workers serve C{tcp:}; an C{ssl:} listener is refused in one line
        naming the extra to install, before any worker starts.
        """
        environment = customizedEnvironment(self, NO_PYOPENSSL)
        process, port, pids = self.startWorkers(env=environment)
        answered = {request(port, GET).split(b"\r\n", 1)[0] for _ in range(10)}
        self.assertEqual(answered, {b"HTTP/1.1 200 OK"})
        refused = subprocess.run(
            [*helloCommand("--workers", "2", "--listen", "ssl:0:privateKey=k.pem")],
            capture_output=True,
            text=True,
            timeout=30,
            env=environment,
        )
        self.assertEqual(refused.returncode, 1)
        self.assertEqual(
            refused.stderr.strip().splitlines(),
            [
                "hello: --listen ssl:0:privateKey=k.pem: TLS needs pyOpenSSL, "
                "which this install lacks: pip install 'hello-service[tls]'"
            ],
        )
        self.assertNotIn("started worker", refused.stdout)

    def test_hungWorkerSaysWhereItHung(self) -> None:
        """
        A hung worker's stacks are logged as one block under its name
        before it is killed: the operator reads where it was stuck.
        """
        process, port, pids = self.startWorkers("--worker-timeout", "2")
        os.kill(pids[0], signal.SIGSTOP)
        self.addCleanup(self.killAll, [pids[0]])
        found = process.waitFor(
            rf"\[hello_service\.supervisor\.WorkerProcess#warn\] worker 1 "
            rf"\(pid {pids[0]}\) hung here:\n\t(Thread|Current thread) 0x",
            seconds=15,
        )
        block = process.output[found.start() :].split("\n20", 1)[0]
        self.assertIn("(most recent call first)", block)
        # Stopped with its reactor running (a worker says it serves from
        # the loop's first turn): the loop is on the stack.
        self.assertIn(" in mainLoop\n", block)
        waitUntilGone([pids[0]], 5)

    def test_stoppedWorkerReplacedAsHung(self) -> None:
        """
        A worker stopped with SIGSTOP (its reactor no longer runs) is killed
        and replaced within the worker timeout and a few seconds, the log
        says it hung, and new connections are all answered again.
        """
        process, port, pids = self.startWorkers("--worker-timeout", "2")
        stopped = time.monotonic()
        os.kill(pids[0], signal.SIGSTOP)
        self.addCleanup(self.killAll, [pids[0]])
        found = process.waitFor(
            rf"worker 1 \(pid {pids[0]}\) hung: nothing heard from it for [\d.]+ s; "
            r"killing it",
            seconds=10,
        )
        self.assertLess(time.monotonic() - stopped, 2 + 4)
        serving = process.waitFor(r"worker 1 \(pid (\d+)\) serving", after=found.end())
        replacement = int(serving.group(1))
        self.addCleanup(self.killAll, [replacement])
        waitUntilGone([pids[0]], 5)
        for _ in range(30):
            self.assertTrue(
                request(port, GET, timeout=5).startswith(b"HTTP/1.1 200 OK")
            )


class SignalTests(WorkersTestCase):
    def test_sigtermDrainsEveryWorker(self) -> None:
        """
        SIGTERM with C{/sleep} requests in flight in both workers: every one
        is answered, then no process of the service is left, and the main
        process ends as twistd does after SIGTERM.
        """
        process, port, pids = self.startWorkers("--sleep", "1.5")
        clients = [
            socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)
        ]
        for client in clients:
            self.addCleanup(client.close)
            client.sendall(SLEEP)
        held = heldOnce(port, pids, 20)
        self.assertTrue(all(held.values()), held)
        process.signal(signal.SIGTERM)
        for client in clients:
            answer = readUntilClosed(client, 10)
            self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer)
            self.assertIn(b"\r\nConnection: close\r\n", answer)
        self.assertEqual(process.wait(20), -signal.SIGTERM)
        waitUntilGone(pids, 5)
        self.assertNotIn("Traceback", process.output)

    def test_sighupRestartsWithoutFailures(self) -> None:
        """
        SIGHUP under steady keep-alive load, from clients that reuse their
        connections and never retry: not one request fails, and every
        worker is a new process afterwards; the old ones have exited.
        """
        process, port, pids = self.startWorkers("--no-access-log")
        with SteadyLoad(port, clients=6, rate=200, seconds=40, keepAlive=True) as load:
            load.answered(500)
            mark = len(process.output)
            process.signal(signal.SIGHUP)
            done = process.waitFor(
                r"rolling restart done: workers (\d+), (\d+)", after=mark, seconds=30
            )
            load.answered(500)
        result = load.result
        self.assertEqual(result.failed, 0, result.failures[:5])
        self.assertGreater(result.ok, 300)
        fresh = [int(done.group(1)), int(done.group(2))]
        self.addCleanup(self.killAll, fresh)
        self.assertFalse(set(fresh) & set(pids))
        waitUntilGone(pids, 35)
        clients = openConnections(port, 100)
        held = connectionsByProcess(port, fresh)
        for client in clients:
            client.close()
        self.assertEqual(sum(held.values()), 100, held)
        self.assertLessEqual(max(held.values()), 75, held)

    def test_fiftyRestartsLeakNothing(self) -> None:
        """
        Fifty rolling restarts in a row under keep-alive load: no request
        fails, and the main process ends with the descriptors and threads it
        began with, and about the memory.
        """
        process, port, pids = self.startWorkers("--no-access-log")
        with SteadyLoad(port, clients=4, rate=100, seconds=300, keepAlive=True) as load:
            load.answered(100)
            before = processFigures(process.pid)
            workers = pids
            for _ in range(50):
                mark = len(process.output)
                process.signal(signal.SIGHUP)
                done = process.waitFor(
                    r"rolling restart done: workers (\d+), (\d+)",
                    after=mark,
                    seconds=30,
                )
                workers = [int(done.group(1)), int(done.group(2))]
            self.addCleanup(self.killAll, workers)
            load.answered(200)
            after = processFigures(process.pid)
        result = load.result
        self.assertEqual(result.failed, 0, result.failures[:5])
        self.assertEqual(after["descriptors"], before["descriptors"])
        self.assertEqual(after["threads"], before["threads"])
        self.assertLess(after["rss"], before["rss"] * 1.1 + 2**20, (before, after))

    def test_sigusr1ReopensInEveryWorker(self) -> None:
        """
        SIGUSR1 to the main process after logrotate renamed the access log:
        every worker reopens it, so both workers' new lines go to a new
        file at the old path, and no line is lost.
        """
        path = Path(self.mktemp()).resolve()
        process, port, pids = self.startWorkers("--access-log", str(path))
        for _ in range(20):
            request(port, GET)
        until(lambda: len(path.read_text().splitlines()) == 20, 5, "20 access lines")
        rotated = path.with_name(path.name + ".1")
        path.rename(rotated)
        mark = len(process.output)
        process.signal(signal.SIGUSR1)
        for worker in (1, 2):
            process.waitFor(
                rf"worker={worker} pid=\d+\] SIGUSR1: reopening the access log",
                after=mark,
            )
        for _ in range(40):
            request(port, GET)
        until(
            lambda: len(path.read_text().splitlines()) >= 40, 5, "40 new access lines"
        )
        self.assertEqual(len(rotated.read_text().splitlines()), 20)
        fresh = path.read_text().splitlines()
        self.assertEqual(len(fresh), 40)
        self.assertEqual({line.split(" worker=")[1][0] for line in fresh}, {"1", "2"})

    def test_mainKilledWorkersExit(self) -> None:
        """
        SIGKILL of the main process: every worker notices, drains and exits
        within the shutdown timeout and a few seconds; none keeps serving.
        """
        process, port, pids = self.startWorkers("--shutdown-timeout", "2")
        process.signal(signal.SIGKILL)
        self.assertLess(waitUntilGone(pids, 5), 5)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


class EndpointTests(WorkersTestCase):
    def test_unixSocketKeptAcrossRestart(self) -> None:
        """
        Workers share a UNIX socket; a rolling restart keeps its file, and
        the new workers answer on it.
        """
        # A short path: a UNIX socket's may not exceed 107 bytes.
        directory = Path(tempfile.mkdtemp(prefix="hello-"))
        self.addCleanup(shutil.rmtree, directory, True)
        path = directory / "hello.sock"
        process = startHello(self, "--workers", "2", "--listen", f"unix:{path}")
        process.waitFor(r"with 2 workers \(pids (\d+), (\d+)\)")

        def ask() -> bytes:
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(5)
                client.connect(str(path))
                client.sendall(
                    b"GET / HTTP/1.1\r\nHost: u\r\nConnection: close\r\n\r\n"
                )
                return readUntilClosed(client, 5)

        self.assertTrue(ask().startswith(b"HTTP/1.1 200 OK"))
        mark = len(process.output)
        process.signal(signal.SIGHUP)
        process.waitFor(r"rolling restart done", after=mark)
        until(path.exists, 5, f"{path} listened on again")
        self.assertTrue(ask().startswith(b"HTTP/1.1 200 OK"))
        process.signal(signal.SIGTERM)
        process.wait()
        self.assertFalse(path.exists())

    def test_systemdSocketActivation(self) -> None:
        """
        C{systemd-socket-activate} passes one socket; both workers serve
        through it.
        """
        if shutil.which("systemd-socket-activate") is None:
            raise SkipTest("systemd-socket-activate is missing (Debian: systemd)")
        # The tool binds the port it is given, and takes no port 0: a port
        # free a moment ago, tried again if something took it meanwhile.
        for _ in range(3):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            process = HelloProcess(
                self,
                "--workers", "2", "--listen", "systemd:domain=INET:index=0",
                wrapper=[
                    "systemd-socket-activate", "-l", f"127.0.0.1:{port}",
                    "--fdname=hello",
                ],
            )  # fmt: skip
            said = process.waitFor(
                rf"Listening on 127\.0\.0\.1:{port}|Address in use|Address already in use"
            )
            if said.group(0).startswith("Listening"):
                break
        # The tool starts twistd at the first connection.
        self.assertTrue(
            HTTP_OK.match(
                request(port, b"GET / HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n")
            )
        )
        found = process.waitFor(r"with 2 workers \(pids (\d+), (\d+)\)")
        pids = [int(found.group(1)), int(found.group(2))]
        self.addCleanup(self.killAll, pids)
        self.assertIn(f"serving on systemd:127.0.0.1:{port}", process.output)
        served: dict[int, int] = dict.fromkeys(pids, 0)
        for _ in range(10):
            clients = openConnections(port, 50)
            for pid, count in connectionsByProcess(port, pids).items():
                served[pid] += count
            for client in clients:
                client.close()
            if all(served.values()):
                break
            letGo(port, pids)
        self.assertTrue(all(served.values()), served)


class SystemdUnitTests(SynchronousTestCase):
    """
    The systemd units in C{deploy/systemd/} are valid, and their command
    line is one twistd accepts.
    """

    units = CHECKOUT / "deploy" / "systemd"

    def test_verify(self) -> None:
        """
        C{systemd-analyze verify} finds nothing wrong with the units (with
        their virtualenv pointed at this one).
        """
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            raise SkipTest("systemd-analyze is missing (Debian: systemd)")
        directory = Path(self.mktemp())
        directory.mkdir()
        for name in ["hello.socket", "hello.service"]:
            text = (self.units / name).read_text()
            (directory / name).write_text(
                text.replace(
                    "/opt/hello/.venv", str(Path(sys.executable).parent.parent)
                )
            )
        result = subprocess.run(
            [analyze, "verify", "--man=no",
             str(directory / "hello.socket"), str(directory / "hello.service")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr.strip(), "")

    def test_commandLineParses(self) -> None:
        """
        The service's C{twistd hello} options parse, with workers, and its
        stop timeout leaves room for the drain.
        """
        text = (self.units / "hello.service").read_text()
        command = re.search(r"^ExecStart=.*? hello (.*)$", text, re.MULTILINE)
        assert command is not None
        arguments = shlex.split(command.group(1))
        systemd = "systemd:domain=INET:index=0"
        self.assertIn(systemd, arguments)
        # The access log is in the unit's LogsDirectory=, the one place
        # under /var/log it may write (ProtectSystem=strict).
        logs = re.search(r"^LogsDirectory=(\S+)$", text, re.MULTILINE)
        assert logs is not None
        accessLog = arguments[arguments.index("--access-log") + 1]
        self.assertEqual(Path(accessLog).parent, Path("/var/log") / logs.group(1))
        # Here, without systemd's descriptors or its logs directory, the
        # socket is a TCP one and the access log a file of the test's.
        options = Options(reactor=MemoryReactor(), environ={})
        options.parseOptions(
            [{systemd: "tcp:0", accessLog: self.mktemp()}.get(a, a) for a in arguments]
        )
        self.assertEqual(options["workers"], len(os.sched_getaffinity(0)))
        # The admin endpoint: loopback only, off the exporters' port range.
        admin = options["admin"].split(":")
        self.assertEqual(admin[2], "interface=127.0.0.1")
        self.assertNotIn(int(admin[1]), range(9100, 10000))
        stop = re.search(r"^TimeoutStopSec=(\d+)$", text, re.MULTILINE)
        assert stop is not None
        self.assertGreater(
            int(stop.group(1)),
            options["drain-delay"] + options["shutdown-timeout"] + 5,
        )
        self.assertIn("ExecReload=/bin/kill -HUP $MAINPID", text)
        self.assertIn("KillMode=mixed", text)


class RecyclingTests(WorkersTestCase):
    def test_recycledUnderKeepAliveLoadWithoutFailures(self) -> None:
        """
        C{--max-requests} under steady keep-alive load from clients that
        never retry: workers are recycled, one at a time, not one request
        fails, and C{/metrics} counts them as recycled.
        """
        process, port, pids = self.startWorkers(
            "--no-access-log", "--max-requests", "400", "--max-requests-jitter", "100",
            "--admin", "tcp:0:interface=127.0.0.1",
        )  # fmt: skip
        mark = len(process.output)
        with SteadyLoad(port, clients=6, rate=150, seconds=40, keepAlive=True) as load:
            until(
                lambda: (
                    len(re.findall(r"recycled worker \d", process.output[mark:])) >= 3
                ),
                30,
                "three workers recycled",
            )
            load.answered(100)  # load on after the last recycling
        result = load.result
        log = process.output[mark:]
        started = [
            int(pid) for pid in re.findall(r"started worker \d \(pid (\d+)\)", log)
        ]
        self.addCleanup(self.killAll, started)
        self.assertEqual(result.failed, 0, result.failures[:5])
        # One at a time: each recycling ends before the next begins.
        steps = re.findall(r"(recycling|recycled) worker \d", log)
        self.assertGreaterEqual(steps.count("recycled"), 3, log[-3000:])
        self.assertEqual(
            steps[: 2 * steps.count("recycled")],
            ["recycling", "recycled"] * steps.count("recycled"),
        )
        self.assertRegex(
            log, r"recycling worker \d \(pid \d+\): it answered \d+ requests"
        )
        metrics = request(
            process.adminPort(),
            b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        ).decode()
        counted = re.search(
            r'hello_worker_restarts_total\{cause="recycled"\} (\S+)', metrics
        )
        assert counted is not None, metrics
        self.assertGreaterEqual(float(counted.group(1)), 3)
        self.assertRegex(
            metrics, r'hello_worker_restarts_total\{cause="crashed"\} 0\.0'
        )
