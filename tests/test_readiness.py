"""
L{hello_service.operations.readiness}: ready only between the start and
the stop, and only while everything that should serve does.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from hello_service.operations.readiness import Readiness


class ReadinessTests(SynchronousTestCase):
    def test_startedServingStopped(self) -> None:
        """
        Not ready before the start; ready while serving says so once
        started; not ready once stopped, whatever serving says.
        """
        serving = [True]
        readiness = Readiness(lambda: serving[0])
        self.assertFalse(readiness.ready)
        readiness.started()
        self.assertTrue(readiness.ready)
        serving[0] = False  # a worker died: its slot serves nothing
        self.assertFalse(readiness.ready)
        serving[0] = True  # its replacement serves
        self.assertTrue(readiness.ready)
        readiness.stopped()
        self.assertFalse(readiness.ready)
