# -*- test-case-name: tests.test_accesslog -*-
"""
One access-log line per request, in the Combined Log Format, through
C{twisted.logger}.

The request path only records what it already has; the line is formatted
when an observer asks for the text, and its timestamp is shared by every
request of the same second.
"""

from __future__ import annotations

import time

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from hello_service.http import Request

_MONTHS = ("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec").split()


def clfTimestamp(seconds: float) -> str:
    """
    The Common Log Format time of a POSIX time, in UTC.
    """
    t = time.gmtime(seconds)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def _quoted(value: bytes) -> str:
    """
    A header value as the log shows it: decoded byte for byte, with quotes,
    backslashes and control characters escaped so a line stays one line.
    """
    text = value.decode("latin-1")
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(
        ch if ch.isprintable() and ch not in '"\\' else f"\\x{ord(ch):02x}"
        for ch in text
    )


class AccessLogEntry:
    """
    What one request left in the access log; its text is made on demand.
    """

    __slots__ = ("client", "timestamp", "request", "status", "size")

    def __init__(
        self, client: str, timestamp: str, request: Request, status: bytes, size: int
    ) -> None:
        self.client = client
        self.timestamp = timestamp
        self.request = request
        self.status = status
        self.size = size

    def __str__(self) -> str:
        request = self.request
        if request.version == b"-":
            requestLine = "-"
        else:
            requestLine = (
                f"{request.method.decode('ascii')} {_quoted(request.target)} "
                f"HTTP/{request.version.decode('ascii')}"
            )
        return (
            f'{self.client} - - [{self.timestamp}] "{requestLine}" '
            f"{self.status.decode('ascii')} {self.size or '-'} "
            f'"{_quoted(request.referer)}" "{_quoted(request.userAgent)}"'
        )


class AccessLog:
    """
    Records requests as C{info} events of the C{hello_service.access}
    namespace, whose text is the Combined Log Format line.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self.log = Logger(namespace="hello_service.access")
        self._clock = clock
        self._second = -1
        self._timestamp = ""

    def record(self, client: str, request: Request, status: bytes, size: int) -> None:
        """
        Log one answered request.
        """
        second = int(self._clock.seconds())
        if second != self._second:
            self._second = second
            self._timestamp = clfTimestamp(second)
        self.log.info(
            "{entry}",
            entry=AccessLogEntry(client, self._timestamp, request, status, size),
        )
