"""
The documentation site as a reader meets it: built with Sphinx, warnings as
errors, then read as text.  A reader copies commands from it, so option
names keep their two hyphens and literals never show their backticks; and
every grouped figure on the narrative pages is one the benchmarks wrote
(C{benchmarks/results/}), so none can drift from the run it names.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

#: Figures on those pages that are settings or examples, not measurements.
NOT_MEASURED = {
    "1,000": "h2 and hello's bounds (resets, requests per connection)",
    "1,234": "the requests/s of an example status line",
    "8,192": "an address list (10.0.0.0/8,192.0.2.7), not a number",
    "1,200": "RFC 9000's smallest datagram a client's first packet comes in",
    "1,024": "hello's bound on QUIC handshakes in progress",
    "2,000": "hello's bound on Retry packets a second",
}

#: The pages written for readers (the changelog keeps the figures of its
#: day; contributing is the repository's own file).
NARRATIVE = [
    "index",
    "tutorial",
    "contract",
    "options",
    "deploying",
    "performance",
    "design",
]


@cache
def builtSite() -> Path:
    """
    The site, built once per test run into a temporary directory.
    """
    try:
        import sphinx  # noqa: F401
    except ImportError:
        raise SkipTest("Sphinx is not installed (pip install -e '.[docs]')") from None
    output = Path(tempfile.mkdtemp(prefix="hello-docs-"))
    built = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html",
         str(ROOT / "docs"), str(output)],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, HELLO_DOCS_WITHOUT_API="1"),
    )  # fmt: skip
    if built.returncode != 0:
        raise AssertionError(f"sphinx-build failed:\n{built.stderr}")
    return output


def pageText(name: str) -> str:
    """
    A built page's body as a reader sees it: tags removed, entities read.
    """
    page = (builtSite() / f"{name}.html").read_text()
    body = page.split('<div class="body"', 1)[-1].split('<div class="sphinxsidebar"')[0]
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def resultsText() -> str:
    """
    Everything the benchmarks wrote, as one text.
    """
    return "\n".join(
        path.read_text()
        for path in sorted(RESULTS.iterdir())
        if path.suffix in (".json", ".rst", ".md")
    )


class BuiltSiteTests(SynchronousTestCase):
    """
    What a reader copies from the built pages is what they may type.
    """

    def test_noDashBeforeAnOption(self) -> None:
        """
        No en or em dash stands where an option's two hyphens belong.
        """
        for name in NARRATIVE + ["changelog"]:
            found = re.findall(r"(?<![\w)])[\u2013\u2014][a-z][\w-]*", pageText(name))
            self.assertEqual(found, [], name)

    def test_noVisibleBackticks(self) -> None:
        """
        Every literal renders as a literal: no double backticks in the text.
        """
        for name in NARRATIVE + ["changelog", "contributing"]:
            self.assertNotIn("``", pageText(name), name)

    def test_figuresFromTheBenchmarks(self) -> None:
        """
        Every comma-grouped figure on a narrative page is in a file the
        benchmarks wrote, with its commas or without.
        """
        results = resultsText()
        for name in NARRATIVE:
            for figure in set(re.findall(r"\b\d{1,3}(?:,\d{3})+\b", pageText(name))):
                if figure in NOT_MEASURED:
                    continue
                self.assertTrue(
                    figure in results or figure.replace(",", "") in results,
                    f"{name}: {figure} is in no file under benchmarks/results/",
                )

    def test_figuresChangeWithTheRun(self) -> None:
        """
        The tutorial's figures are the run's: its burst time and rates as
        C{results.json} gives them.
        """
        sys.path.insert(0, str(ROOT / "docs" / "_ext"))
        try:
            from hello_figures import figures
        finally:
            sys.path.remove(str(ROOT / "docs" / "_ext"))
        made = figures()
        text = pageText("tutorial")
        for name in ("burst-concurrent-s", "keepalive-parallel", "run-measured"):
            self.assertIn(made[name], text)
