"""
Tests for L{hello_service.supervisor} in memory.  The supervisor with real
worker processes is tested in C{tests.system.test_workers}.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from hello_service.supervisor import workerCount


class WorkerCountTests(SynchronousTestCase):
    def test_workerCount(self) -> None:
        """
        C{--workers} takes a whole number from 1, or C{auto} for the CPUs
        this process may run on.
        """
        self.assertEqual(workerCount("3"), 3)
        self.assertEqual(workerCount("auto"), len(os.sched_getaffinity(0)))
        for bad in ["0", "-1", "many", "1.5"]:
            with self.assertRaises(ValueError):
                workerCount(bad)
