"""
pytest only: run each test in its own temporary directory, as trial runs
them in _trial_temp, so that files a test makes (C{TestCase.mktemp}) never
land in the working tree; and run the twistd processes the tests start on
Twisted's epoll reactor (trial's run starts them on hello's, the default), so
that the process tests run on both, as the in-process tests do (trial on
hello's reactor, pytest on Twisted's).
"""

import os
from pathlib import Path

import pytest

from tests.support.processes import TWISTD_REACTOR

os.environ.setdefault(TWISTD_REACTOR, "epoll")


@pytest.fixture(autouse=True)
def _inTemporaryDirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
