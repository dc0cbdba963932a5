"""
pytest only: run each test in its own temporary directory, as trial runs
them in _trial_temp, so that files a test makes (C{TestCase.mktemp}) never
land in the working tree.
"""

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _inTemporaryDirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
