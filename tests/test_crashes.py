"""
Tests for L{hello_service.processes.crashes}: the crash policy alone, on a clock.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from hello_service.processes.crashes import CRASH_LIMIT, CRASH_WINDOW, CrashPolicy


class CrashPolicyTests(SynchronousTestCase):
    def test_backoffDoubles(self) -> None:
        """
        The first death is replaced at once, each further one within the
        window after twice the wait of the one before; the fifth gives up.
        """
        policy = CrashPolicy(Clock())
        waits = [policy.died() for _ in range(CRASH_LIMIT)]
        self.assertEqual(waits, [0.0, 0.5, 1.0, 2.0, None])
        self.assertEqual(
            policy.givingUp(), "workers died 5 times within 60 s; giving up"
        )

    def test_oldDeathsForgotten(self) -> None:
        """
        A death more than the window ago no longer counts: the wait starts
        again from nothing.
        """
        clock = Clock()
        policy = CrashPolicy(clock)
        policy.died()
        policy.died()
        clock.advance(CRASH_WINDOW + 0.1)
        self.assertEqual(policy.died(), 0.0)
        self.assertEqual(policy.recent, 1)
