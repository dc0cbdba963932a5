# -*- test-case-name: tests.test_caching -*-
"""
HTTP caching: validators, conditional requests, ranges, OPTIONS and
freshness, as exact bytes on a L{StringTransport} in both concurrency
models, and linted by REDbot against a live server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from ..support.builders import (
    response,
)
from ..support.processes import startHello

EPOCH = b"Thu, 01 Jan 1970 00:00:00 GMT"


def plain(status: bytes, extra: bytes = b"") -> bytes:
    return response(
        status, status + b"\n", contentType=b"text/plain; charset=utf-8", extra=extra
    )


class RedbotTests(SynchronousTestCase):
    """
    REDbot, the HTTP linter, as a real client of a live server.
    """

    def lint(self, *arguments: str) -> list[dict[str, str]]:
        redbot = shutil.which("redbot") or str(
            Path(os.sys.executable).parent / "redbot"
        )
        if not Path(redbot).exists():
            raise SkipTest("redbot is missing (pip install redbot, in the test extra)")
        process = startHello(self, *arguments)
        port = process.port()
        result = subprocess.run(
            [redbot, "-o", "har", f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return json.loads(result.stdout)["log"]["entries"][0]["_red_messages"]  # type: ignore[no-any-return]

    def assertClean(self, notes: list[dict[str, str]]) -> None:
        ids = {note["note_id"] for note in notes}
        self.assertTrue({"INM_304", "IMS_304", "RANGE_CORRECT"} <= ids, ids)
        self.assertEqual(
            [n for n in notes if n["level"] in ("WARN", "BAD")],
            [],
        )

    def test_concurrent(self) -> None:
        """
        C{/} supports If-None-Match, If-Modified-Since and ranges, and earns
        no warning.
        """
        self.assertClean(self.lint())

    def test_parallel(self) -> None:
        """
        The same in parallel mode.
        """
        self.assertClean(self.lint("--parallel"))
