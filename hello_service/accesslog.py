# -*- test-case-name: tests.test_accesslog -*-
"""
One access-log line per request, in the Combined Log Format, through
C{twisted.logger}.

The request path only records what it already has; the requests answered
within 10 ms share one log event, whose lines are formatted only when an
observer asks for its text.
"""

from __future__ import annotations

import json
import time
from typing import TextIO

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from hello_service.requests import Request

#: What the request path records of an answered request: the client, the
#: request, the status code and the body bytes sent.
Entry = tuple[str, Request, bytes, int]

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


class CombinedFormat:
    """
    Combined Log Format lines, each followed, in C{--workers} mode, by the
    worker that answered (C{worker=2 pid=4242}).
    """

    def __init__(self, worker: tuple[int, int] | None = None) -> None:
        self._suffix = "" if worker is None else f" worker={worker[0]} pid={worker[1]}"
        self._second = -1
        self._timestamp = ""

    def lines(self, second: int, entries: list[Entry]) -> str:
        if second != self._second:
            self._second = second
            self._timestamp = clfTimestamp(second)
        timestamp, suffix = self._timestamp, self._suffix
        return "\n".join(
            [formatEntry(timestamp, c, r, s, n) + suffix for c, r, s, n in entries]
        )


class JsonFormat:
    """
    One JSON object per line, for log shippers: C{time} (ISO 8601, UTC, to
    the second the batch was written), C{client}, C{method}, C{target},
    C{version}, C{status}, C{size} (body bytes sent), C{referer} and
    C{user_agent} (C{null} when absent), and in C{--workers} mode C{worker}
    and C{pid}.  Bytes outside ASCII are kept as Latin-1 characters.
    """

    def __init__(self, worker: tuple[int, int] | None = None) -> None:
        self._worker = {} if worker is None else {"worker": worker[0], "pid": worker[1]}

    def lines(self, second: int, entries: list[Entry]) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        worker = self._worker
        return "\n".join(
            [
                json.dumps(
                    {
                        "time": when,
                        "client": client,
                        "method": _field(request.method),
                        "target": _field(request.target),
                        "version": _field(request.version),
                        "status": int(status),
                        "size": size,
                        "referer": _field(request.referer),
                        "user_agent": _field(request.userAgent),
                        **worker,
                    },
                    separators=(",", ":"),
                )
                for client, request, status, size in entries
            ]
        )


def _field(value: bytes) -> str | None:
    return None if value == b"-" else value.decode("latin-1")


#: The formats of C{--access-log-format}.
FORMATS: dict[str, type[CombinedFormat] | type[JsonFormat]] = {
    "combined": CombinedFormat,
    "json": JsonFormat,
}


class AccessLogBatch:
    """
    The requests answered within one interval of L{AccessLog} (10 ms); its
    text, made only when an observer asks for it, is one line per request.
    """

    __slots__ = ("second", "entries", "format")

    def __init__(
        self,
        second: int,
        entries: list[Entry],
        format: CombinedFormat | JsonFormat,
    ) -> None:
        self.second = second
        self.entries = entries
        self.format = format

    def __str__(self) -> str:
        return self.format.lines(self.second, self.entries)


class AccessLog:
    """
    The access log: one line per request, in the C{hello_service.access}
    namespace of the service's log, or in a file of its own.

    A C{twisted.logger} event costs more than answering a request from
    memory (formatting, a timestamp, a write and a flush of the log file),
    so requests are not logged one by one: those answered within
    L{interval} seconds are emitted together, as one C{info} event whose
    text has a line per request (or one write to the file).  Under load that
    is one event for hundreds of requests; when quiet, an event per request,
    a moment later.  The interval is short because formatting a batch stalls
    the requests behind it: a tenth of a second of lines costs them
    milliseconds.
    """

    #: How long a line may wait for others to share its event.
    interval = 0.01

    #: How many lines one event may hold: formatting and writing a batch
    #: stalls the requests behind it, so under load a batch is emitted as
    #: soon as it is this big, keeping each stall short (the tail latency).
    maxBatch = 128

    def __init__(
        self,
        clock: IReactorTime,
        path: str | None = None,
        format: CombinedFormat | JsonFormat | None = None,
    ) -> None:
        """
        @param path: a file to append the lines to, rather than the log.
        @param format: how each line is written (Combined Log Format unless
            given).
        """
        self.log = Logger(namespace="hello_service.access")
        self.format = CombinedFormat() if format is None else format
        self._clock = clock
        self._file: TextIO | None = None
        if path is not None:
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._pending: list[Entry] = []
        self._flushCall: IDelayedCall | None = None

    def record(self, client: str, request: Request, status: bytes, size: int) -> None:
        """
        Log one answered request (within L{interval} seconds).
        """
        pending = self._pending
        if not pending:
            self._flushCall = self._clock.callLater(self.interval, self.flush)
        pending.append((client, request, status, size))
        if len(pending) >= self.maxBatch:
            self.flush()

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
        batch = AccessLogBatch(int(self._clock.seconds()), entries, self.format)
        if self._file is not None:
            self._file.write(str(batch) + "\n")
            self._file.flush()
            return
        self.log.info("{requests}", requests=batch, count=len(entries))

    def close(self) -> None:
        """
        Write what is left, and close the file if there is one.
        """
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
