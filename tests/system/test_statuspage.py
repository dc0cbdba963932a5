# -*- test-case-name: tests.test_statuspage,tests.system.test_statuspage -*-
"""
The status page in a real browser: headless Chromium opens C{/status} on a
live C{twistd -n hello --workers 2} under bounded load, lets the page poll,
and the test reads each worker's row and the request rate from the page's
own DOM; a worker stopped with SIGSTOP shows as not reporting.  A
screenshot of each page is kept beside the test's files.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from ..support.load import SteadyLoad
from ..support.processes import startHello

SERVING = r"serving on tcp:127\.0\.0\.1:(\d+) with 2 workers \(pids (\d+), (\d+)\)"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SkipTest("no headless browser (Debian: chromium)")


def browser(*arguments: str, seconds: float) -> list[str]:
    """
    A headless Chromium command that lets the page run for C{seconds} of
    its own (virtual) time, the fetches it makes included.
    """
    command = [chromium(), "--headless", "--disable-gpu", "--hide-scrollbars",
               f"--virtual-time-budget={int(seconds * 1000)}", *arguments]  # fmt: skip
    if os.geteuid() == 0:
        command.insert(2, "--no-sandbox")  # Chromium's sandbox refuses root
    return command


class Rows(HTMLParser):
    """
    The process rows of the status page's DOM: each row's data attributes
    and its cells' text by C{data-field}; and the body's attributes.
    """

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.body: dict[str, str] = {}
        self._row: dict[str, str] | None = None
        self._field: str | None = None
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "body":
            self.body = attributes
        elif tag == "tr" and "data-process" in attributes:
            self._row = self.rows[attributes["data-process"]] = dict(attributes)
        elif (
            tag in ("td", "th") and self._row is not None and "data-field" in attributes
        ):
            self._field = attributes["data-field"]
            self._row[self._field] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._field = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._field is not None:
            self._row[self._field] += data


def number(text: str) -> float:
    return float(text.replace(",", ""))


class StatusPageTests(SynchronousTestCase):
    def setUp(self) -> None:
        chromium()
        if "MUTANT_UNDER_TEST" in os.environ:
            raise SkipTest("real processes are not run under mutation testing")
        self.directory = Path(self.mktemp()).resolve()
        self.directory.mkdir(parents=True)

    def startWorkers(self, *arguments: str) -> tuple[int, str, list[int]]:
        process = startHello(
            self, "--workers", "2", "--admin", "tcp:0:interface=127.0.0.1",
            *arguments,
        )  # fmt: skip
        found = process.waitFor(SERVING)
        admin = process.adminPort()
        pids = [int(found.group(2)), int(found.group(3))]
        return int(found.group(1)), f"http://127.0.0.1:{admin}/status", pids

    def look(self, url: str, name: str, seconds: float = 3.0) -> Rows:
        """
        Open the page, let it poll for C{seconds}, and read its DOM; keep a
        screenshot as C{name}.png.
        """
        dom = subprocess.run(
            browser("--dump-dom", url, seconds=seconds),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        screenshot = self.directory / f"{name}.png"
        subprocess.run(
            browser("--window-size=1280,760", f"--screenshot={screenshot}", url,
                    seconds=seconds),
            capture_output=True, timeout=60,
        )  # fmt: skip
        print(f"status page screenshot: {screenshot}")
        return Rows(dom.stdout)

    def test_workersUnderLoad(self) -> None:
        """
        Under 120 requests a second: a row per process with the workers'
        PIDs, each worker serving and answering, the page's total rate
        within a third of what the load sends, and the counts moving
        between two looks; the page polled more than once.
        """
        port, url, pids = self.startWorkers()
        with SteadyLoad(port, clients=4, rate=30, seconds=30) as load:
            time.sleep(6)  # five sampled seconds of rate
            started = time.monotonic()
            okBefore, _ = load.counts()
            first = self.look(url, "status-under-load")
            okAfter, _ = load.counts()
            sent = (okAfter - okBefore) / (time.monotonic() - started)
            time.sleep(1)
            second = self.look(url, "status-later", seconds=1.5)
        self.assertEqual(load.result.failed, 0, load.result.failures[:3])
        self.assertEqual(list(first.rows), ["main", "worker 1", "worker 2"])
        self.assertEqual(
            [first.rows[f"worker {n}"]["pid"] for n in (1, 2)], [str(p) for p in pids]
        )
        self.assertEqual(first.rows["main"]["role"], "supervises the workers")
        for slot in (1, 2):
            row = first.rows[f"worker {slot}"]
            self.assertEqual(row["data-state"], "serving")
            self.assertGreater(number(row["rate"]), 0, row)
            self.assertGreater(
                number(second.rows[f"worker {slot}"]["2xx"]), number(row["2xx"])
            )
        # Each worker's share of the requests and connections, which add up.
        shares = [
            re.fullmatch(r"(\d+)% / (\d+)%", first.rows[f"worker {n}"]["share"])
            for n in (1, 2)
        ]
        self.assertTrue(
            all(shares), [first.rows[f"worker {n}"]["share"] for n in (1, 2)]
        )
        for column in (1, 2):
            total = sum(int(m.group(column)) for m in shares if m)
            self.assertIn(total, (99, 100, 101))
        pageRate = float(first.body["data-rate"])
        self.assertTrue(sent * 2 / 3 < pageRate < sent * 4 / 3, (pageRate, sent))
        self.assertGreaterEqual(int(first.body["data-updates"]), 2)

    def test_stoppedWorkerNotReporting(self) -> None:
        """
        A worker stopped with SIGSTOP is shown as not reporting within the
        worker timeout (here 10 s; the page says so after 2.5 s), while the
        other goes on serving.
        """
        _, url, pids = self.startWorkers("--worker-timeout", "10")
        os.kill(pids[0], signal.SIGSTOP)
        self.addCleanup(os.kill, pids[0], signal.SIGCONT)
        time.sleep(3.5)
        rows = self.look(url, "status-worker-stopped", seconds=1.5).rows
        self.assertEqual(rows["worker 1"]["data-state"], "not reporting")
        self.assertRegex(rows["worker 1"]["state"], r"^not reporting \(\d+ s\)$")
        self.assertEqual(rows["worker 2"]["data-state"], "serving")
        self.assertTrue(re.match(r"\d+", rows["worker 1"]["pid"]))
