# -*- test-case-name: tests.test_accesslog -*-
"""
One access-log line per request, in the Combined Log Format or as JSON.

The request path only records what it already has; the requests answered
within 10 ms are formatted and written together, as whole lines, to the
access log's own file or to the twistd log (each line stamped as twistd
stamps its own, so log shippers read one line per request).
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, TypeVar

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger, formatTime

from hello_service.http.requests import Request

if TYPE_CHECKING:
    from hello_service.http.proxytrust import TrustedProxies
    from hello_service.http.responses import Response

#: What the request path records of an answered request: the client, the
#: request, the status code, the body bytes sent, when its first byte was
#: received and when its answer was handed to the kernel (for the formats
#: that are C{timed}; else 0).
Entry = tuple[str, Request, bytes, int, float, float]

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

#: The most values a cache of this module holds: when full it starts afresh.
_REMEMBERED = 4096

_K = TypeVar("_K")


def _remember(cache: dict[_K, str], key: _K, value: str) -> None:
    """
    Keep C{value} in C{cache}, which never grows past L{_REMEMBERED}.
    """
    if len(cache) >= _REMEMBERED:
        cache.clear()
    cache[key] = value


def _text(value: bytes) -> str:
    """
    L{_quoted}, remembered: the same few request lines, agents and referers
    come back again and again.
    """
    text = _texts.get(value)
    if text is None:
        text = _quoted(value)
        if len(value) <= 256:  # a bounded cache of short values only
            _remember(_texts, value, text)
    return text


def formatEntry(
    timestamp: str, client: str, request: Request, status: bytes, size: int
) -> str:
    """
    One Combined Log Format line.
    """
    return combinedLines(timestamp, "", [(client, request, status, size, 0.0, 0.0)])[0]


_TailKey = tuple[bytes, bytes, bytes, bytes, int, bytes, bytes]

#: Lines' tails (from the request line on), by what they are made of: a
#: service with a few pages answers the same few requests again and again,
#: from any number of clients.
_tails: dict[_TailKey, str] = {}


def _tail(key: _TailKey, request: Request, status: bytes, size: int) -> str:
    """
    What a Combined Log Format line says after its time, remembered under
    C{key} (while short: the cache stays small).
    """
    if request.version == b"-":
        requestLine = "-"
    else:
        requestLine = _text(
            request.method + b" " + request.target + b" HTTP/" + request.version
        )
    tail = (
        f'"{requestLine}" {_text(status)} {size or "-"} '
        f'"{_text(request.referer)}" "{_text(request.userAgent)}"'
    )
    if len(tail) <= 512:
        _remember(_tails, key, tail)
    return tail


def combinedLines(timestamp: str, suffix: str, entries: list[Entry]) -> list[str]:
    """
    Combined Log Format lines, each ending with C{suffix}.  This runs once
    per request served: a line's tail comes from a small cache when the
    same request was answered the same way before, which costs a tuple
    and a look-up instead of formatting five fields.
    """
    known = _tails.get
    lines: list[str] = []
    append = lines.append
    for client, request, status, size, _, _ in entries:
        key = (
            request.method,
            request.target,
            request.version,
            status,
            size,
            request.referer,
            request.userAgent,
        )
        tail = known(key) or _tail(key, request, status, size)
        append(f"{client} - - [{timestamp}] {tail}{suffix}")
    return lines


class CombinedFormat:
    """
    Combined Log Format lines, each followed, in C{--workers} mode, by the
    worker that answered (C{worker=2 pid=4242}).  Byte for byte the lines
    Apache writes, so that existing parsers read them.
    """

    #: Whether its lines need each request's first-byte and answer times.
    timed = False

    def __init__(self, worker: tuple[int, int] | None = None) -> None:
        self._suffix = "" if worker is None else f" worker={worker[0]} pid={worker[1]}"
        self._second = -1
        self._timestamp = ""

    def lines(self, second: int, entries: list[Entry]) -> list[str]:
        if second != self._second:
            self._second = second
            self._timestamp = clfTimestamp(second)
        return combinedLines(self._timestamp, self._suffix, entries)


class JsonFormat:
    """
    One JSON object per line, for log shippers: C{time} (ISO 8601, UTC, to
    the millisecond: when the answer was handed to the kernel), C{duration}
    (seconds from the request's first byte received to then), C{client},
    C{method}, C{target}, C{version}, C{status}, C{size} (body bytes sent),
    C{referer} and C{user_agent} (C{null} when absent), and in C{--workers}
    mode C{worker} and C{pid}.  Bytes outside ASCII are kept as Latin-1
    characters.
    """

    timed = True

    def __init__(self, worker: tuple[int, int] | None = None) -> None:
        self._worker = {} if worker is None else {"worker": worker[0], "pid": worker[1]}

    def lines(self, second: int, entries: list[Entry]) -> list[str]:
        worker = self._worker
        return [
            json.dumps(
                {
                    "time": isoTime(answered),
                    "duration": round(max(0.0, answered - began), 6),
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
            for client, request, status, size, began, answered in entries
        ]


def isoTime(seconds: float) -> str:
    """
    An ISO 8601 time in UTC, to the millisecond.
    """
    whole = int(seconds)
    millis = int((seconds - whole) * 1000)  # under 1000: seconds - whole < 1
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def _field(value: bytes) -> str | None:
    return None if value == b"-" else value.decode("latin-1")


#: The formats of C{--access-log-format}.
FORMATS: dict[str, type[CombinedFormat] | type[JsonFormat]] = {
    "combined": CombinedFormat,
    "json": JsonFormat,
}

Format = CombinedFormat | JsonFormat

#: How many lines one write may hold: formatting and writing a batch stalls
#: the requests behind it, so under load a batch is written as soon as it is
#: this big, keeping each stall short (the tail latency).
MAX_BATCH = 128

#: The most a write may hold and stay whole when several processes write to
#: one pipe: POSIX keeps writes of up to PIPE_BUF bytes from interleaving.
PIPE_BUF = 4096


class LineWriter:
    """
    Where whole access lines go: a file (C{--access-log}, or the twistd log's
    file) or an inherited stream (the twistd log's standard output).  Lines
    are written in writes of at most L{PIPE_BUF} bytes, each of whole lines,
    so that the lines of several workers never interleave; a file is opened
    to append, and reopened (L{reopen}) after logrotate renamed it.

    @ivar prefixed: whether each line starts as a twistd log line does (its
        time and C{[hello_service.access#info]}), so that the twistd log
        stays one event per line for log shippers.
    """

    def __init__(
        self,
        path: str | None = None,
        descriptor: int | None = None,
        prefixed: bool = False,
    ) -> None:
        """
        @param path: a file to append to; or
        @param descriptor: an open stream to write to.

        @raise OSError: if the file cannot be opened for appending.
        """
        self.prefixed = prefixed
        self._path = path
        self._descriptor = descriptor if path is None else self._open(path)
        self._stamps: tuple[int, str] = (-1, "")

    @staticmethod
    def _open(path: str) -> int:
        return os.open(
            path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644
        )

    def write(self, second: int, lines: list[str]) -> None:
        if self._descriptor is None or not lines:
            return
        head, separator = "", "\n"
        if self.prefixed:
            stamped, prefix = self._stamps
            if stamped != second:
                prefix = formatTime(second) + " [hello_service.access#info] "
                self._stamps = (second, prefix)
            head, separator = prefix, "\n" + prefix
        # One string and one encoding for the batch, cut into writes at line
        # ends: per line, Python's work is then only the line's own.
        data = (head + separator.join(lines) + "\n").encode("utf-8", "replace")
        start, end = 0, len(data)
        while end - start > PIPE_BUF:
            stop = data.rfind(b"\n", start, start + PIPE_BUF) + 1
            if stop == 0:  # a line longer than PIPE_BUF: written whole, alone
                stop = data.index(b"\n", start) + 1
            self._send(data[start:stop])
            start = stop
        self._send(data[start:] if start else data)

    def _send(self, data: bytes) -> None:
        assert self._descriptor is not None
        while data:
            try:
                written = os.write(self._descriptor, data)
            except InterruptedError:
                continue
            except OSError:
                return  # a full disk or a closed stream: the service goes on
            data = data[written:]

    def reopen(self) -> None:
        """
        Open the file at its path again: after logrotate renamed it, new
        lines go to a new file at the old path.
        """
        if self._path is None:
            return
        try:
            descriptor = self._open(self._path)
        except OSError as error:
            Logger(namespace="hello_service.access").error(
                "cannot reopen the access log {path}: {error}; still writing the old file",
                path=self._path,
                error=error.strerror,
            )
            return
        if self._descriptor is not None:
            os.close(self._descriptor)
        self._descriptor = descriptor

    def close(self) -> None:
        if self._path is not None and self._descriptor is not None:
            os.close(self._descriptor)
        self._descriptor = None


class AccessLogBatch:
    """
    The requests answered within one interval of L{AccessLog} (10 ms), as
    one log event; its text, made only when an observer asks for it, is one
    line per request.  (Used where hello cannot write whole lines itself: a
    twistd C{--logger} or C{--syslog}, and in tests.)
    """

    __slots__ = ("second", "entries", "format")

    def __init__(self, second: int, entries: list[Entry], format: Format) -> None:
        self.second = second
        self.entries = entries
        self.format = format

    def __str__(self) -> str:
        return "\n".join(self.format.lines(self.second, self.entries))


class AccessLog:
    """
    The access log: one line per request, written by L{LineWriter} (to its
    own file, or to the twistd log as whole lines), or as events in the
    C{hello_service.access} namespace of the service's log.

    A C{twisted.logger} event costs more than answering a request from
    memory (formatting, a timestamp, a write and a flush of the log file),
    so requests are not logged one by one: those answered within
    L{interval} seconds are written together, with one write (or one event)
    for all their lines.  Under load that is one write for hundreds of
    requests; when quiet, a write per request, a moment later.  The
    interval is short because formatting a batch stalls the requests behind
    it: a tenth of a second of lines costs them milliseconds.
    """

    #: How long a line may wait for others to share its write.
    interval = 0.01

    def __init__(
        self,
        clock: IReactorTime,
        writer: LineWriter | None = None,
        format: Format | None = None,
    ) -> None:
        """
        @param writer: where the lines go; without one, they are log events.
        @param format: how each line is written (Combined Log Format unless
            given).
        """
        self.log = Logger(namespace="hello_service.access")
        self.format = CombinedFormat() if format is None else format
        #: Whether its lines need each request's first-byte and answer times.
        self.timed = self.format.timed
        self._clock = clock
        self._writer = writer
        self._pending: list[Entry] = []
        self._flushCall: IDelayedCall | None = None

    def record(
        self,
        client: str,
        request: Request,
        status: bytes,
        size: int,
        began: float,
        answered: float,
    ) -> None:
        """
        Log one answered request (within L{interval} seconds): C{began} is
        when its first byte was received, C{answered} when its answer was
        handed to the kernel (both 0 unless the format is C{timed}).
        """
        pending = self._pending
        if not pending:
            self._flushCall = self._clock.callLater(self.interval, self.flush)
        pending.append((client, request, status, size, began, answered))
        if len(pending) >= MAX_BATCH:
            self.flush()

    def flush(self) -> None:
        """
        Write what was recorded and not written yet.
        """
        call, self._flushCall = self._flushCall, None
        if call is not None and call.active():
            call.cancel()
        entries = self._pending
        if not entries:
            return
        self._pending = []
        second = int(self._clock.seconds())
        if self._writer is not None:
            self._writer.write(second, self.format.lines(second, entries))
            return
        batch = AccessLogBatch(second, entries, self.format)
        self.log.info("{requests}", requests=batch, count=len(entries))

    def reopen(self) -> None:
        """
        Write what is pending, then reopen the file (SIGUSR1, SIGHUP).
        """
        self.flush()
        if self._writer is not None:
            self._writer.reopen()

    def close(self) -> None:
        """
        Write what is left, and close the file if there is one.
        """
        self.flush()
        if self._writer is not None:
            self._writer.close()


class NoAccessLog:
    """
    C{--no-access-log}: requests are not logged.
    """

    #: Nothing is logged, so nothing is timed.
    timed = False

    def record(
        self,
        client: str,
        request: Request,
        status: bytes,
        size: int,
        began: float,
        answered: float,
    ) -> None:
        pass

    def flush(self) -> None:
        pass

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


class ExchangeRecorder:
    """
    What an answered exchange leaves behind, the same for every protocol
    (each session records its exchanges here): the count of answers by
    kind, and the access-log line, naming the client as the trusted proxies
    say, with the size a C{HEAD} answer's body would have had.

    It adds the line to the access log's batch itself, as
    L{AccessLog.record} does: an exchange then costs one call, where a
    recorder calling C{record} would cost two (a call is about 0.7% of a
    keep-alive request's instructions, C{benchmarks/hotpath.py
    --callgrind}).
    """

    __slots__ = ("_answered", "_log", "_proxies", "_clock", "_timed")

    def __init__(
        self,
        answered: list[int],
        accessLog: AccessLog | NoAccessLog,
        trustedProxies: TrustedProxies,
        clock: IReactorTime,
    ) -> None:
        """
        @param answered: the answers of every protocol, by kind
            (L{hello_service.http.counting.RequestCounts.answered}).
        """
        self._answered = answered
        self._log = accessLog if isinstance(accessLog, AccessLog) else None
        self._proxies = trustedProxies
        self._clock = clock
        #: Whether the access log times requests (its JSON duration): only
        #: then is the clock read per answer.
        self._timed = accessLog.timed

    def record(
        self, peer: str, request: Request, response: Response, began: float
    ) -> None:
        """
        One exchange answered: C{request} from C{peer}, received from
        C{began}, answered with C{response}.
        """
        self._answered[response.kind] += 1
        log = self._log
        if log is None:
            return
        pending = log._pending
        if not pending:
            log._flushCall = log._clock.callLater(log.interval, log.flush)
        pending.append(
            (
                peer
                if request.forwarding is None
                else self._proxies.clientOf(peer, request.forwarding),
                request,
                response.status,
                0 if request.method == b"HEAD" else len(response.body),
                began,
                self._clock.seconds() if self._timed else 0.0,
            )
        )
        if len(pending) >= MAX_BATCH:
            log.flush()
