# -*- test-case-name: tests.test_accesslog -*-
"""
One access-log line per request, in the Combined Log Format, through
C{twisted.logger}.

The request path only records what it already has; the requests answered
within 10 ms share one log event, whose lines are formatted only when an
observer asks for its text.
"""

from __future__ import annotations

import time

from twisted.internet.interfaces import IDelayedCall, IReactorTime
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
    A header value as the log shows it: printable ASCII as it is; quotes,
    backslashes, control characters and other bytes as C{\\xHH} (as Apache
    does), so a line stays one line and its fields stay its fields.
    """
    text = value.decode("latin-1")
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(
        ch if " " <= ch <= "~" and ch not in '"\\' else f"\\x{ord(ch):02x}"
        for ch in text
    )


_texts: dict[bytes, str] = {}


def _text(value: bytes) -> str:
    """
    L{_quoted}, remembered: the same few request lines, agents and referers
    come back again and again.
    """
    text = _texts.get(value)
    if text is None:
        text = _quoted(value)
        if len(value) <= 256:  # a bounded cache of short values only
            if len(_texts) >= 4096:
                _texts.clear()
            _texts[value] = text
    return text


def formatEntry(
    timestamp: str, client: str, request: Request, status: bytes, size: int
) -> str:
    """
    One Combined Log Format line.  This runs once per request served, so
    the text of each part comes from a small cache when it can.
    """
    known = _texts.get
    if request.version == b"-":
        requestLine = "-"
    else:
        raw = request.method + b" " + request.target + b" HTTP/" + request.version
        requestLine = known(raw) or _text(raw)
    referer = request.referer
    agent = request.userAgent
    return (
        f'{client} - - [{timestamp}] "{requestLine}" '
        f"{known(status) or _text(status)} {size or '-'} "
        f'"{known(referer) or _text(referer)}" "{known(agent) or _text(agent)}"'
    )


class AccessLogBatch:
    """
    The requests answered within one interval of L{AccessLog} (10 ms); its
    text, made only when an observer asks for it, is one line per request.
    """

    __slots__ = ("timestamp", "entries", "label")

    def __init__(
        self,
        timestamp: str,
        entries: list[tuple[str, Request, bytes, int]],
        label: str = "",
    ) -> None:
        self.timestamp = timestamp
        self.entries = entries
        self.label = label

    def __str__(self) -> str:
        timestamp, label = self.timestamp, self.label
        return "\n".join(
            [formatEntry(timestamp, c, r, s, n) + label for c, r, s, n in self.entries]
        )


class AccessLog:
    """
    The access log: one Combined Log Format line per request, in the
    C{hello_service.access} namespace.

    A C{twisted.logger} event costs more than answering a request from
    memory (formatting, a timestamp, a write and a flush of the log file),
    so requests are not logged one by one: those answered within
    L{interval} seconds are emitted together, as one C{info} event whose
    text has a line per request.  Under load that is one event for
    hundreds of requests; when quiet, an event per request, a moment later.
    The interval is short because formatting a batch stalls the requests
    behind it: a tenth of a second of lines costs them milliseconds.
    """

    #: How long a line may wait for others to share its event.
    interval = 0.01

    #: Added to every line: which worker answered, in C{--workers} mode
    #: (C{" worker=1 pid=4242"}); nothing for a single process.
    label = ""

    def __init__(self, clock: IReactorTime) -> None:
        self.log = Logger(namespace="hello_service.access")
        self._clock = clock
        self._pending: list[tuple[str, Request, bytes, int]] = []
        self._flushCall: IDelayedCall | None = None
        self._second = -1
        self._timestamp = ""

    def record(self, client: str, request: Request, status: bytes, size: int) -> None:
        """
        Log one answered request (within L{interval} seconds).
        """
        pending = self._pending
        if not pending:
            self._flushCall = self._clock.callLater(self.interval, self.flush)
        pending.append((client, request, status, size))

    def flush(self) -> None:
        """
        Emit what was recorded and not emitted yet.
        """
        call, self._flushCall = self._flushCall, None
        if call is not None and call.active():
            call.cancel()
        entries = self._pending
        if not entries:
            return
        self._pending = []
        second = int(self._clock.seconds())
        if second != self._second:
            self._second = second
            self._timestamp = clfTimestamp(second)
        self.log.info(
            "{requests}",
            requests=AccessLogBatch(self._timestamp, entries, self.label),
            count=len(entries),
        )
