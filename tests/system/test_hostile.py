"""
The malformed and hostile requests of C{tests.test_hostile}, over real
TCP: each gets its exact status, and the connection either closes or stays
in sync.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from ..support.tcp import closing, exchange, portOf, startService
from ..test_hostile import CASES, statuslines


class HostileTCPTests(TestCase):
    """
    The whole table over real TCP; after each case a fresh C{GET /} still
    works.
    """

    async def test_table(self) -> None:
        """
        Every case gets its statuslines; connections left open answer a final
        request, and the server answers everyone afterwards.
        """
        port = portOf(startService(self))
        for name, data, expected, closes in CASES:
            tail = b"" if closes else closing(b"/")
            answer, _ = await exchange(port, data + tail)
            self.assertEqual(
                statuslines(answer), expected + ([] if closes else [b"200"]), name
            )
            after, _ = await exchange(port, closing(b"/"))
            self.assertEqual(statuslines(after), [b"200"], name)
