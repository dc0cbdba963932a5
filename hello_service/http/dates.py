# -*- test-case-name: tests.test_dates -*-
"""
HTTP dates: formatting the C{Date} and C{Last-Modified} values, cheaply, and
reading the dates clients send in conditional requests.
"""

from __future__ import annotations

from email.utils import formatdate, mktime_tz, parsedate_tz


def httpDate(seconds: float) -> bytes:
    """
    The IMF-fixdate of RFC 9110 for a POSIX time, as a Date header wants it.
    """
    return formatdate(seconds, usegmt=True).encode("ascii")


def parseHttpDate(value: bytes) -> int | None:
    """
    The POSIX time of an HTTP date (any of RFC 9110's three forms), or
    C{None} if it is not one: an invalid date is ignored, not refused.
    """
    try:
        parsed = parsedate_tz(value.decode("latin-1"))
        return None if parsed is None else int(mktime_tz(parsed))
    except (ValueError, OverflowError):
        return None


class DateCache:
    """
    The Date header value, recomputed at most once a second.

    Formatting a date costs more than answering a request from memory, so
    every response of the same second shares one.

    @ivar value: the Date value of the second from C{validFrom} (included)
        to C{validUntil} (excluded).
    """

    __slots__ = ("value", "validFrom", "validUntil")

    def __init__(self) -> None:
        self.value = b""
        self.validFrom = 0.0
        self.validUntil = -1.0

    def at(self, now: float) -> bytes:
        """
        The Date value for time C{now}; a new second, or a clock set back,
        makes a new one.
        """
        if not self.validFrom <= now < self.validUntil:
            second = float(int(now))
            self.value = httpDate(second)
            self.validFrom = second
            self.validUntil = second + 1.0
        return self.value
