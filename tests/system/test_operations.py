"""
Day-one operations of one C{twistd -n hello} process, as an operator does
them, under steady keep-alive load from clients that never retry: SIGHUP
reloads, SIGUSR1 reopens a renamed access log, a drain with a drain delay
loses nothing, start-up mistakes are one line, and access lines are whole,
timestamped lines a log shipper can read.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from ..support.load import SteadyLoad
from ..support.processes import (
    ANY_PORT,
    CHECKOUT,
    HelloProcess,
    request,
    runHello,
    startHello,
    takenPort,
)
from ..support.waiting import until

GET = b"GET / HTTP/1.1\r\nHost: ops\r\nConnection: close\r\n\r\n"

#: A line of the twistd log, as twistd writes it: time, [system], text.
TWISTD_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} \[([^\]]+)\] (.*)$")


def accessLines(output: str) -> list[str]:
    """
    The access lines of a twistd log, each checked to be a whole line with
    twistd's timestamp.
    """
    found = []
    for line in output.splitlines():
        match = TWISTD_LINE.match(line)
        if match and match.group(1).startswith("hello_service.access#info"):
            found.append(match.group(2))
    return found


def waitForPort(logfile: Path, seconds: float = 20) -> int:
    """
    The port a hello process logging to C{logfile} serves on.
    """

    def serving() -> re.Match[str] | None:
        text = logfile.read_text() if logfile.exists() else ""
        return re.search(r"serving on tcp:127\.0\.0\.1:(\d+)", text)

    return int(until(serving, seconds, f"a start-up line in {logfile}").group(1))


def pagesCopy(test: SynchronousTestCase) -> Path:
    pages = Path(test.mktemp())
    shutil.copytree(CHECKOUT / "hello_service" / "http" / "pages", pages)
    return pages


class SignalTests(SynchronousTestCase):
    def test_sighupReloadsUnderKeepAliveLoad(self) -> None:
        """
        SIGHUP under steady keep-alive load: the process goes on serving,
        no request fails, the log says what it did, and the edited page is
        served afterwards.
        """
        pages = pagesCopy(self)
        process = startHello(self, "--pages", str(pages), "--no-access-log")
        port = process.port()
        edited = b"<!DOCTYPE html>\n<h1>Edited</h1>\n</html>\n"
        with SteadyLoad(port, clients=6, rate=200, seconds=20, keepAlive=True) as load:
            load.answered(200)
            (pages / "hello.html").write_bytes(edited)
            mark = len(process.output)
            process.signal(signal.SIGHUP)
            process.waitFor(
                r"SIGHUP: reloading the pages and the certificates, and reopening the access log",
                after=mark,
            )
            load.answered(200)
        result = load.result
        self.assertEqual(result.failed, 0, result.failures[:5])
        self.assertGreater(result.ok, 300)
        self.assertIsNone(process.process.poll())
        self.assertTrue(request(port, GET).endswith(b"\r\n\r\n" + edited))

    def test_sighupKeepsOldPagesWhenNewOnesAreUnreadable(self) -> None:
        """
        SIGHUP with the pages gone: an error line, and the pages loaded
        before go on being served.
        """
        pages = pagesCopy(self)
        process = startHello(self, "--pages", str(pages))
        port = process.port()
        shutil.rmtree(pages)
        process.signal(signal.SIGHUP)
        process.waitFor(
            r"pages not reloaded: .*; still serving the pages loaded before"
        )
        self.assertTrue(request(port, GET).startswith(b"HTTP/1.1 200 OK\r\n"))

    def test_sigusr1ReopensRenamedAccessLog(self) -> None:
        """
        After logrotate renames the access log, SIGUSR1 makes new lines go
        to a new file at the old path; no line is lost across the rename.
        """
        path = Path(self.mktemp()).resolve()
        process = startHello(self, "--access-log", str(path))
        port = process.port()
        for _ in range(5):
            request(port, GET)
        until(lambda: len(path.read_text().splitlines()) == 5, 10, "5 access lines")
        rotated = path.with_name(path.name + ".1")
        path.rename(rotated)
        for _ in range(3):
            request(port, GET)  # still to the renamed file, until reopened
        mark = len(process.output)
        process.signal(signal.SIGUSR1)
        process.waitFor("SIGUSR1: reopening the access log", after=mark)
        for _ in range(4):
            request(port, GET)
        until(
            lambda: path.exists() and path.read_text().count("\n") >= 4,
            10,
            "4 new lines",
        )
        self.assertEqual(len(rotated.read_text().splitlines()), 8)
        self.assertEqual(len(path.read_text().splitlines()), 4)
        self.assertIsNone(process.process.poll())

    def test_twistdRotatesItsOwnLogFileToo(self) -> None:
        """
        With twistd writing to a file (C{--logfile}), SIGUSR1 still makes
        twistd rotate it, and hello's access lines follow into the new
        file, each whole and stamped.
        """
        logfile = Path(self.mktemp()).resolve()
        process = HelloProcess(
            self, "--listen", ANY_PORT, twistdOptions=["--logfile", str(logfile)]
        )
        port = waitForPort(logfile)
        request(port, GET)
        until(lambda: accessLines(logfile.read_text()), 10, "the first access line")
        process.signal(signal.SIGUSR1)
        rotated = Path(str(logfile) + ".1")
        until(
            lambda: "SIGUSR1: reopening the access log" in logfile.read_text(),
            10,
            "twistd's new log file, and hello's reopening in it",
        )
        request(port, GET)
        until(
            lambda: accessLines(logfile.read_text()),
            10,
            "an access line in the new file",
        )
        self.assertEqual(len(accessLines(rotated.read_text())), 1)
        self.assertEqual(len(accessLines(logfile.read_text())), 1)
        self.assertIn("SIGUSR1: reopening the access log", logfile.read_text())


class DrainTests(SynchronousTestCase):
    def test_drainDelayUnderKeepAliveLoad(self) -> None:
        """
        SIGTERM with a drain delay, under keep-alive load from clients that
        never retry: no request fails while the listener is open, and every
        answer from the drain's start says C{Connection: close}.
        """
        process = startHello(self, "--drain-delay", "2", "--no-access-log")
        port = process.port()
        with SteadyLoad(port, clients=6, rate=200, seconds=20, keepAlive=True) as load:
            load.answered(100)
            signalled = time.monotonic()
            process.signal(signal.SIGTERM)
            time.sleep(1.5)  # within the drain delay: the listener is open
        result = load.result
        self.assertEqual(result.failed, 0, result.failures[:5])
        during = [
            closing for when, closing in result.answers if when > signalled + 0.05
        ]
        self.assertGreater(len(during), 50)
        self.assertTrue(all(during), during.count(False))
        self.assertEqual(process.wait(20), -signal.SIGTERM)


class StartupMistakeTests(SynchronousTestCase):
    def assertOneLine(self, arguments: list[str], cause: str) -> None:
        """
        Starting with C{arguments}, in one process and with two workers,
        ends at once with exit status 1, a last line naming C{cause}, no
        traceback, and no worker started.
        """
        for mode in ([], ["--workers", "2"]):
            result = runHello(*arguments, *mode)
            output = result.stdout + result.stderr
            self.assertEqual(result.returncode, 1, output)
            self.assertRegex(output.strip().splitlines()[-1], cause)
            self.assertNotIn("Traceback", output)
            self.assertNotIn("started worker", output)

    def test_unwritableAccessLog(self) -> None:
        """
        An access log that cannot be written is one line.
        """
        self.assertOneLine(
            ["--access-log", "/nonexistent/dir/a.log"],
            r"--access-log: cannot write /nonexistent/dir/a.log: No such file or directory",
        )

    def test_unreadablePages(self) -> None:
        """
        Pages that cannot be read are one line.
        """
        self.assertOneLine(
            ["--pages", "/nonexistent/pages"],
            r"pages directory not found: /nonexistent/pages",
        )

    def test_portInUse(self) -> None:
        """
        A port in use is one line.
        """
        port = takenPort(self)
        self.assertOneLine(
            ["--listen", f"tcp:{port}:interface=127.0.0.1"],
            rf"hello: cannot listen on tcp:{port}:interface=127.0.0.1: .*",
        )


class AccessLineTests(SynchronousTestCase):
    def test_combinedLinesAreWholeAndStamped(self) -> None:
        """
        In the twistd log every access line is a whole line with its own
        timestamp, in the Combined Log Format, even when several share one
        write.
        """
        process = startHello(self)
        port = process.port()
        for target in [b"/", b"/missing", b"/?x=1"]:
            request(
                port,
                b"GET " + target + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            )
        until(lambda: len(accessLines(process.output)) >= 3, 10, "3 access lines")
        lines = accessLines(process.output)
        self.assertEqual(len(lines), 3, process.output)
        for line, status in zip(lines, ["200", "404", "200"], strict=True):
            self.assertRegex(
                line,
                rf'^127\.0\.0\.1 - - \[\d\d/\w+/\d{{4}}:\d\d:\d\d:\d\d \+0000\] "GET /\S* HTTP/1\.1" {status} \d+ "-" "-"$',
            )
        self.assertNotIn("\n\t", process.output)

    def test_jsonLinesCarryTimeAndDuration(self) -> None:
        """
        JSON access lines in the twistd log are whole lines, each with its
        time to the millisecond and a plausible duration: about a second
        for C{/sleep} of 1 s, nearly nothing for C{/}.
        """
        process = startHello(self, "--access-log-format", "json", "--sleep", "1")
        port = process.port()
        request(port, GET)
        request(port, b"GET /sleep HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        until(lambda: len(accessLines(process.output)) >= 2, 10, "2 access lines")
        entries = [json.loads(line) for line in accessLines(process.output)]
        self.assertEqual(
            [e["target"] for e in entries], ["/", "/sleep"], process.output
        )
        for entry in entries:
            self.assertRegex(entry["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertLess(entries[0]["duration"], 0.1)
        self.assertTrue(0.95 <= entries[1]["duration"] < 1.5, entries[1])

    def test_workersWriteWholeStampedLines(self) -> None:
        """
        With two workers, each worker's access lines reach the twistd log as
        whole, stamped lines naming the worker, and the workers' relayed
        events name the worker and its PID.
        """
        process = startHello(self, "--workers", "2")
        port = int(process.waitFor(r"serving on tcp:127\.0\.0\.1:(\d+) with").group(1))
        for _ in range(20):
            request(port, GET)
        until(lambda: len(accessLines(process.output)) >= 20, 10, "20 access lines")
        lines = accessLines(process.output)
        self.assertEqual(len(lines), 20, process.output)
        for line in lines:
            self.assertRegex(line, r'" 200 \d+ "-" "-" worker=[12] pid=\d+$')
        self.assertRegex(
            process.output,
            r"\[hello_service\.worker#info worker=1 pid=\d+\] worker 1 \(pid \d+\) serving",
        )
