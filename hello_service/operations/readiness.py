# -*- test-case-name: tests.test_readiness,tests.test_operations,tests.test_supervisor -*-
"""
Whether the service is ready: what C{/ready}, C{hello_ready}, the status
page and the service manager are told, decided in one place.
"""

from __future__ import annotations

from collections.abc import Callable


class Readiness:
    """
    The service is ready while it has started, has not begun to stop, and
    everything that should serve does (with C{--workers}, every slot has a
    worker that said it serves: from the moment one dies until its
    replacement serves, through the whole crash backoff, it is not).
    """

    def __init__(self, serving: Callable[[], bool] = lambda: True) -> None:
        """
        @param serving: whether everything that should serve does.
        """
        self._serving = serving
        self._started = False

    @property
    def ready(self) -> bool:
        return self._started and self._serving()

    def started(self) -> None:
        """
        The service serves: ready whenever C{serving} says so.
        """
        self._started = True

    def stopped(self) -> None:
        """
        The service is stopping, or gave up: never ready again.
        """
        self._started = False
