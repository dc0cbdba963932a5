"""
Tests for L{hello_service.configuration.config}: the typed configuration.  What a worker
process is given of it is tested in C{tests.test_handoff}.
"""

from __future__ import annotations

from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from hello_service.configuration.config import Config
from hello_service.tap import Options


def parsed(*arguments: str) -> Config:
    options = Options(reactor=MemoryReactor(), environ={})
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
