"""
The lesson's interactive page (C{benchmarks/results/lesson.html}), opened
in headless Chromium as a learner opens it: at each instant asked for, every
request shows the state its recorded times give, the page loads nothing
from the network, and the committed page is the one the committed run
makes.
"""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from benchmarks.lessonpage import STATES, writePage

from ..support.processes import CHECKOUT
from .test_statuspage import browser, chromium

RESULTS = CHECKOUT / "benchmarks" / "results"


class StateCells(HTMLParser):
    """
    Each request row's C{data-state}, panel by panel, from the page's DOM.
    """

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.panels: dict[str, list[str]] = {}
        self._panel = ""
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section" and found.get("data-panel"):
            self._panel = str(found["data-panel"])
            self.panels[self._panel] = []
        elif tag == "tr" and "data-state" in found:
            self.panels[self._panel].append(str(found["data-state"]))


def expected(request: dict[str, Any], slow: str, t: float) -> str:
    """
    What a request was doing at C{t}, read from its recorded times: the
    last of them reached names it.
    """
    state = "not sent"
    for time, name in STATES:
        if request[time] is not None and request[time] <= t:
            state = name.format(slow=slow)
    return state


class LessonPageTests(SynchronousTestCase):
    def setUp(self) -> None:
        chromium()
        self.run = json.loads((RESULTS / "lesson.json").read_text())

    def look(self, t: float) -> dict[str, list[str]]:
        page = (RESULTS / "lesson.html").resolve()
        command = browser("--dump-dom", f"{page.as_uri()}#t={t}", seconds=2)
        dom = subprocess.run(command, capture_output=True, text=True, timeout=60)
        return StateCells(dom.stdout).panels

    def test_statesAtEachInstant(self) -> None:
        """
        At instants through the run, each row shows what its request was
        doing then: waiting, sleeping or working, answered.
        """
        seen = set()
        for t in (0.02, 0.3, 0.6, 1.1, 1.7):
            panels = self.look(t)
            for comparison in self.run["comparisons"]:
                for panel in comparison["panels"]:
                    want = [
                        expected(request, comparison["slow"], t)
                        for request in panel["requests"]
                    ]
                    self.assertEqual(panels[panel["title"]], want, (t, panel["title"]))
                    seen.update(want)
        self.assertTrue({"waiting", "sleeping", "working", "answered"} <= seen, seen)

    def test_selfContained(self) -> None:
        """
        Nothing on the page is fetched: no script, style, image or frame
        from an address.
        """
        page = (RESULTS / "lesson.html").read_text()
        self.assertIsNone(re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page))
        self.assertNotIn("@import", page)

    def test_pageMadeFromTheRecordedRun(self) -> None:
        """
        The committed page is what the committed run makes, so the page
        and the pictures show the same run.
        """
        made = Path(self.mktemp())
        writePage(self.run, made)
        self.assertEqual(made.read_text(), (RESULTS / "lesson.html").read_text())
