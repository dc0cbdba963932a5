"""
L{hello_service.operations.lognames}: a class's logger keeps the namespace
it was given.
"""

from __future__ import annotations

from twisted.logger import Logger, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from hello_service.operations.lognames import NamedLogger


class _Named:
    log = NamedLogger("hello_service.somewhere.Else")


class _Plain:
    log = Logger(namespace="hello_service.somewhere.Else")


class NamedLoggerTests(SynchronousTestCase):
    def test_namespaceKept(self) -> None:
        """
        Read from the class or an instance, the logger has the namespace it
        was given, and the event's source is what it was read from; a plain
        C{Logger} as a class attribute would be named after the test module.
        """
        named = _Named()
        self.assertEqual(named.log.namespace, "hello_service.somewhere.Else")
        self.assertIs(named.log.source, named)
        self.assertIs(_Named.log.source, _Named)
        self.assertEqual(_Plain().log.namespace, f"{__name__}._Plain")
        with capturedLogs() as events:
            named.log.info("said")
        self.assertEqual(events[0]["log_namespace"], "hello_service.somewhere.Else")
