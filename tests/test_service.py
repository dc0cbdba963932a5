"""
Tests for L{hello_service.processes.service}'s own helpers.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from hello_service.processes.service import counted


class CountedTests(SynchronousTestCase):
    """
    Counts in the log read as English.
    """

    def test_singularAndPlural(self) -> None:
        """
        One is singular; none and many are plural.
        """
        self.assertEqual(counted(1, "connection"), "1 connection")
        self.assertEqual(counted(0, "request"), "0 requests")
        self.assertEqual(counted(2, "request"), "2 requests")
