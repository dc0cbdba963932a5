# -*- test-case-name: tests.test_deploy,tests.test_lognames -*-
"""
The log namespaces an operator filters on, fixed where they are declared.

A class's C{log = Logger()} is named by Twisted after the module and class
it is declared in (C{Logger.__get__}), even when it was given a namespace.
The deploying page lists the namespaces as part of the service's contract,
so a class whose module moves keeps its namespace by declaring it with
L{NamedLogger}.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger


class NamedLogger(Logger):
    """
    A class's logger whose namespace is the one it was given, whichever
    module the class lives in; its source is still the instance (or the
    class) it is read from.
    """

    def __get__(self, instance: object, owner: type | None = None) -> Logger:
        source: Any = owner if instance is None else instance
        return Logger(self.namespace, source, self.observer)
