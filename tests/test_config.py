"""
Tests for L{hello_service.config}: the typed configuration, and what a
worker process is given of it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from hello_service.config import Config
from hello_service.tap import Options


def parsed(*arguments: str) -> Config:
    options = Options(reactor=MemoryReactor())
    options.parseOptions(list(arguments))
    assert options.config is not None
    return options.config


class ConfigTests(SynchronousTestCase):
    def test_frozen(self) -> None:
        """
        The configuration cannot be changed once built.
        """
        config = parsed()
        with self.assertRaises(AttributeError):
            config.sleep = 1.0  # type: ignore[misc]

    def test_workerGetsEverySettingItServes(self) -> None:
        """
        A worker's configuration, made from the supervisor's settings, is the
        supervisor's but for what only the supervisor does (workers, admin,
        drain delay), the endpoints it inherits, and its own identity.
        """
        pages = Path(__file__).parent.parent / "hello_service" / "pages"
        config = parsed(
            "--workers", "3", "--sleep", "1.5", "--parallel", "--threads", "7",
            "--max-connections", "9", "--shutdown-timeout", "4",
            "--header-timeout", "2", "--idle-timeout", "3", "--write-timeout", "5",
            "--max-body-size", "11", "--cache-control", "no-cache",
            "--access-log", "/tmp/a.log", "--access-log-format", "json",
            "--admin", "tcp:0", "--drain-delay", "2", "--pages", str(pages),
        )  # fmt: skip
        worker = Config.forWorker(config.workerSettings(), (), (2, 1234))
        expected = replace(
            config,
            endpoints=(),
            workers=1,
            admin=None,
            drainDelay=0.0,
            worker=(2, 1234),
        )
        self.assertEqual(worker, expected)
