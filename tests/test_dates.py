# -*- test-case-name: tests.test_http -*-
"""
The HTTP rules alone: byte strings in, requests or errors out.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from hello_service.http import dates


class DateTests(SynchronousTestCase):
    """
    The Date header value.
    """

    def test_format(self) -> None:
        """
        Dates are the IMF-fixdate of RFC 9110.
        """
        self.assertEqual(dates.httpDate(784111777), b"Sun, 06 Nov 1994 08:49:37 GMT")

    def test_cachedPerSecond(self) -> None:
        """
        The same second shares one value; the next second gets a new one,
        and so does a clock that went back.
        """
        cache = dates.DateCache()
        first = cache.at(10.1)
        self.assertIs(cache.at(10.9), first)
        self.assertEqual(cache.at(11.0), b"Thu, 01 Jan 1970 00:00:11 GMT")
        self.assertEqual(cache.at(3.0), b"Thu, 01 Jan 1970 00:00:03 GMT")
