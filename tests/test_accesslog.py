# -*- test-case-name: tests.test_accesslog -*-
"""
The access log: its lines, and how they are batched.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent, formatTime
from twisted.trial.unittest import SynchronousTestCase

from hello_service.connection import accesslog
from hello_service.connection.accesslog import (
    AccessLog,
    CombinedFormat,
    JsonFormat,
    LineWriter,
    NoAccessLog,
    clfTimestamp,
    formatEntry,
    isoTime,
)
from hello_service.http.requests import UNPARSED, Request


class FormatTests(SynchronousTestCase):
    def setUp(self) -> None:
        # Escaped values are remembered; start from none, so that escaping
        # is done here, not found from an earlier test.
        accesslog._texts.clear()
        accesslog._tails.clear()

    def test_timestamp(self) -> None:
        """
        Times are in the Common Log Format, in UTC.
        """
        self.assertEqual(clfTimestamp(784111777), "06/Nov/1994:08:49:37 +0000")

    def test_combinedLine(self) -> None:
        """
        A line has client, time, request line, status, size, referer and
        agent; an empty body is written C{-}.
        """
        request = Request(b"HEAD", b"/a?b=1", b"1.0", False, b"http://r/", b"agent/1")
        self.assertEqual(
            formatEntry("T", "10.0.0.1", request, b"200", 0),
            '10.0.0.1 - - [T] "HEAD /a?b=1 HTTP/1.0" 200 - "http://r/" "agent/1"',
        )
        self.assertEqual(
            formatEntry("T", "-", UNPARSED, b"400", 16), '- - - [T] "-" 400 16 "-" "-"'
        )

    def test_noLogInjection(self) -> None:
        """
        Quotes, backslashes, control and non-ASCII bytes from a client are
        escaped: a line stays one line and its fields stay its fields.
        """
        request = Request(b"GET", b"/", b"1.1", True, b'a"b\\c', b"x\r\ny\x00\xff")
        line = formatEntry("T", "c", request, b"200", 1)
        self.assertEqual(
            line,
            '''c - - [T] "GET / HTTP/1.1" 200 1 "a\\x22b\\x5cc" "x\\x0d\\x0ay\\x00\\xff"''',
        )
        self.assertNotIn("\n", line)

    def test_rememberedTailsKeepEveryField(self) -> None:
        """
        A line's tail is remembered, but only for a request like it in every
        field the tail shows: one that differs in any of them gets its own.
        """
        base = (b"GET", b"/", b"1.1", True, b"-", b"agent/1")
        variants = {
            "method": ((b"HEAD", *base[1:]), b"200", 5),
            "target": ((b"GET", b"/x", *base[2:]), b"200", 5),
            "version": ((*base[:2], b"1.0", *base[3:]), b"200", 5),
            "status": (base, b"404", 5),
            "size": (base, b"200", 6),
            "referer": ((*base[:4], b"http://r/", b"agent/1"), b"200", 5),
            "agent": ((*base[:5], b"agent/2"), b"200", 5),
        }
        first = formatEntry("T", "c", Request(*base), b"200", 5)  # type: ignore[arg-type]
        self.assertEqual(first, 'c - - [T] "GET / HTTP/1.1" 200 5 "-" "agent/1"')
        lines = {
            field: formatEntry("T", "c", Request(*fields), status, size)  # type: ignore[arg-type]
            for field, (fields, status, size) in variants.items()
        }
        accesslog._tails.clear()
        accesslog._texts.clear()
        fresh = {
            field: formatEntry("T", "c", Request(*fields), status, size)  # type: ignore[arg-type]
            for field, (fields, status, size) in variants.items()
        }
        self.assertEqual(lines, fresh)
        self.assertEqual(len(set(lines.values()) | {first}), 8)

    def test_rememberedTailsAreBounded(self) -> None:
        """
        At most 4,096 tails are remembered, and none longer than 512
        characters: a crawler's endless distinct targets cannot grow it.
        """
        for n in range(5000):
            formatEntry("T", "c", Request(b"GET", b"/%d" % n, b"1.1", True), b"404", 9)
            self.assertLessEqual(len(accesslog._tails), 4096)
        accesslog._tails.clear()
        long = Request(b"GET", b"/" + b"x" * 600, b"1.1", True)
        line = formatEntry("T", "c", long, b"404", 9)
        self.assertIn("x" * 600, line)
        self.assertEqual(accesslog._tails, {})

    def test_tailFormattedOncePerDistinctRequest(self) -> None:
        """
        The same request answered the same way again has its tail from the
        cache, not formatted a second time; a different one is formatted.
        """
        made: list[bytes] = []
        tail = accesslog._tail

        def counting(*arguments: object) -> str:
            made.append(arguments[1].target)  # type: ignore[attr-defined]
            return tail(*arguments)  # type: ignore[arg-type]

        self.patch(accesslog, "_tail", counting)
        for target in (b"/", b"/", b"/other", b"/"):
            formatEntry("T", "c", Request(b"GET", target, b"1.1", True), b"200", 5)
        self.assertEqual(made, [b"/", b"/other"])

    def test_tailCacheLimitIsExact(self) -> None:
        """
        A tail of 512 characters is remembered, one of 513 is not.
        """
        shortest = formatEntry("T", "c", Request(b"GET", b"/", b"1.1", True), b"200", 5)
        fixed = len(shortest) - len("c - - [T] ") - 1  # all but the target's "/"
        accesslog._tails.clear()
        for length, kept in ((512, 1), (513, 0)):
            target = b"/" + b"x" * (length - fixed - 1)
            line = formatEntry(
                "T", "c", Request(b"GET", target, b"1.1", True), b"200", 5
            )
            self.assertEqual(len(line) - len("c - - [T] "), length)
            self.assertEqual(len(accesslog._tails), kept)
            accesslog._tails.clear()

    def test_workerSuffixFollowsRememberedTail(self) -> None:
        """
        In C{--workers} mode each line ends with its worker, remembered tail
        or not.
        """
        request = Request(b"GET", b"/", b"1.1", True)
        format = CombinedFormat(worker=(2, 4242))
        entry = ("c", request, b"200", 5, 0.0, 0.0)
        lines = format.lines(784111777, [entry, entry])
        self.assertEqual(
            lines,
            [
                'c - - [06/Nov/1994:08:49:37 +0000] "GET / HTTP/1.1" 200 5 "-" "-"'
                " worker=2 pid=4242"
            ]
            * 2,
        )

    def test_backslashAloneIsEscaped(self) -> None:
        """
        A value whose only odd character is a backslash is escaped too; a
        tilde is printable and stays.
        """
        request = Request(b"GET", b"/", b"1.1", True, b"a\\b", b'~"~')
        self.assertEqual(
            formatEntry("T", "c", request, b"200", 1),
            'c - - [T] "GET / HTTP/1.1" 200 1 "a\\x5cb" "~\\x22~"',
        )


class BatchingTests(SynchronousTestCase):
    def test_oneEventPerInterval(self) -> None:
        """
        Requests recorded within the interval share one event, with a line
        each, emitted when the interval ends; the next request starts a new
        batch.
        """
        clock = Clock()
        log = AccessLog(clock)
        request = Request(b"GET", b"/", b"1.1", True)
        with capturedLogs() as events:
            for _ in range(3):
                log.record("c", request, b"200", 5, 0.0, 0.0)
            clock.advance(log.interval / 2)
            self.assertEqual(events, [])
            clock.advance(log.interval / 2)
            log.record("c", request, b"404", 6, 0.0, 0.0)
            clock.advance(log.interval)
        self.assertEqual([e["count"] for e in events], [3, 1])
        self.assertEqual(len(formatEvent(events[0]).split("\n")), 3)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_flushNow(self) -> None:
        """
        C{flush} emits at once and leaves no timer (the service flushes when
        it stops).
        """
        clock = Clock()
        log = AccessLog(clock)
        with capturedLogs() as events:
            log.record("c", Request(b"GET", b"/", b"1.1", True), b"200", 5, 0.0, 0.0)
            log.flush()
            log.flush()
        self.assertEqual(len(events), 1)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_batchesAreBounded(self) -> None:
        """
        Under load a batch is emitted as soon as it holds 128 lines, so no
        single event stalls the requests behind it for long.
        """
        clock = Clock()
        log = AccessLog(clock)
        request = Request(b"GET", b"/", b"1.1", True)
        with capturedLogs() as events:
            for _ in range(300):
                log.record("c", request, b"200", 5, 0.0, 0.0)
            self.assertEqual([e["count"] for e in events], [128, 128])
            clock.advance(log.interval)
        self.assertEqual([e["count"] for e in events], [128, 128, 44])
        self.assertEqual(clock.getDelayedCalls(), [])


REQUEST = Request(b"GET", b"/", b"1.1", True, b"-", b"ua")


class JsonFormatTests(SynchronousTestCase):
    def test_line(self) -> None:
        """
        A JSON line has the answer's time to the millisecond, the duration
        from the first byte, the request's fields (C{null} when absent) and,
        in a worker, the worker and its PID.
        """
        line = JsonFormat((2, 4242)).lines(
            0, [("10.0.0.1", REQUEST, b"404", 7, 784111777.25, 784111777.5005)]
        )
        self.assertEqual(
            [json.loads(text) for text in line],
            [
                {
                    "time": "1994-11-06T08:49:37.500Z",
                    "duration": 0.2505,
                    "client": "10.0.0.1",
                    "method": "GET",
                    "target": "/",
                    "version": "1.1",
                    "status": 404,
                    "size": 7,
                    "referer": None,
                    "user_agent": "ua",
                    "worker": 2,
                    "pid": 4242,
                }
            ],
        )
        self.assertNotIn(" ", line[0])
        self.assertTrue(JsonFormat.timed)
        self.assertFalse(CombinedFormat.timed)

    def test_isoTime(self) -> None:
        """
        Times are ISO 8601 in UTC, to the millisecond, never rounded up to
        the next second.
        """
        self.assertEqual(isoTime(784111777.0), "1994-11-06T08:49:37.000Z")
        self.assertEqual(isoTime(784111777.9999), "1994-11-06T08:49:37.999Z")

    def test_combinedInAWorker(self) -> None:
        """
        A worker's Combined lines end with the worker and its PID.
        """
        [line] = CombinedFormat((1, 99)).lines(
            784111777, [("c", REQUEST, b"200", 0, 0.0, 0.0)]
        )
        self.assertEqual(
            line,
            'c - - [06/Nov/1994:08:49:37 +0000] "GET / HTTP/1.1" 200 - "-" "ua" '
            "worker=1 pid=99",
        )

    def test_durationToTheMicrosecond(self) -> None:
        """
        Durations are rounded to the microsecond.
        """
        [line] = JsonFormat().lines(0, [("c", REQUEST, b"200", 1, 0.0, 1.0000004)])
        self.assertEqual(json.loads(line)["duration"], 1.0)


class LineWriterTests(SynchronousTestCase):
    def test_plainLinesAppended(self) -> None:
        """
        To its own file, lines are appended as they are, each whole.
        """
        path = Path(self.mktemp())
        path.write_text("before\n")
        writer = LineWriter(path=str(path))
        writer.write(0, ["one", "two"])
        writer.close()
        writer.write(0, ["after close"])
        self.assertEqual(path.read_text(), "before\none\ntwo\n")

    def test_prefixedAsTwistdStampsItsLines(self) -> None:
        """
        To the twistd log, each line starts as twistd's own do: the time and
        C{[hello_service.access#info]}.
        """
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        self.addCleanup(os.close, write)
        writer = LineWriter(descriptor=write, prefixed=True)
        writer.write(784111777, ["one", "two"])
        stamp = formatTime(784111777)
        self.assertEqual(
            os.read(read, 1000).decode(),
            f"{stamp} [hello_service.access#info] one\n"
            f"{stamp} [hello_service.access#info] two\n",
        )

    def test_flushStampsTheSecondItWrites(self) -> None:
        """
        Through the access log, a batch's twistd stamp and its lines' time
        are the second of the flush, from the log's clock.
        """
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        self.addCleanup(os.close, write)
        clock = Clock()
        clock.advance(784111777.5)
        log = AccessLog(clock, LineWriter(descriptor=write, prefixed=True))
        log.record("c", Request(b"GET", b"/", b"1.1", True), b"200", 5, 0.0, 0.0)
        log.flush()
        self.assertEqual(
            os.read(read, 1000).decode(),
            f"{formatTime(784111777)} [hello_service.access#info] "
            'c - - [06/Nov/1994:08:49:37 +0000] "GET / HTTP/1.1" 200 5 "-" "-"\n',
        )

    def test_writesHoldWholeLinesWithinPipeBuf(self) -> None:
        """
        A batch is written in pieces of at most PIPE_BUF bytes, each of
        whole lines, so that several workers' lines never interleave.
        """
        writes: list[bytes] = []
        self.patch(os, "write", lambda fd, data: writes.append(data) or len(data))
        writer = LineWriter(descriptor=99)
        lines = [(f"{n:02d}" * 50)[:99] for n in range(100)]  # 100 bytes a line
        writer.write(0, lines)
        self.assertEqual(b"".join(writes).decode().splitlines(), lines)
        self.assertEqual([len(w) for w in writes], [4000] * 2 + [2000])
        self.assertTrue(all(w.endswith(b"\n") for w in writes))

    def test_partialWritesAreFinished(self) -> None:
        """
        A write the kernel takes in part is finished; a failing one is
        dropped without stopping the service.
        """
        writes: list[bytes] = []

        def partly(fd: int, data: bytes) -> int:
            writes.append(data[:3])
            return 3

        self.patch(os, "write", partly)
        LineWriter(descriptor=99).write(0, ["abcdefg"])
        self.assertEqual(b"".join(writes), b"abcdefg\n")

        def broken(fd: int, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        self.patch(os, "write", broken)
        LineWriter(descriptor=99).write(0, ["x"])

    def test_reopenAfterRename(self) -> None:
        """
        After a rename, reopening sends new lines to a new file at the old
        path; a stream has nothing to reopen.
        """
        path = Path(self.mktemp())
        writer = LineWriter(path=str(path))
        writer.write(0, ["old"])
        path.rename(str(path) + ".1")
        writer.write(0, ["still old"])
        writer.reopen()
        writer.write(0, ["new"])
        writer.close()
        self.assertEqual(Path(str(path) + ".1").read_text(), "old\nstill old\n")
        self.assertEqual(path.read_text(), "new\n")
        LineWriter(descriptor=99).reopen()

    def test_reopenFailureKeepsTheOldFile(self) -> None:
        """
        If the path cannot be opened again (its folder is gone), the error
        is logged and lines go on to the file already open.
        """
        directory = Path(self.mktemp())
        directory.mkdir()
        path = directory / "a.log"
        writer = LineWriter(path=str(path))
        kept = Path(self.mktemp())
        path.rename(kept)
        directory.rmdir()
        with capturedLogs() as events:
            writer.reopen()
        writer.write(0, ["kept"])
        writer.close()
        self.assertEqual(kept.read_text(), "kept\n")
        self.assertEqual(
            formatEvent(events[0]),
            f"cannot reopen the access log {path}: No such file or directory; "
            "still writing the old file",
        )

    def test_exactBoundaries(self) -> None:
        """
        Lines that fill PIPE_BUF exactly go in one write, and the next write
        starts empty.
        """
        writes: list[bytes] = []
        self.patch(os, "write", lambda fd, data: writes.append(data) or len(data))
        LineWriter(descriptor=99).write(0, ["x" * 1023] * 8)
        self.assertEqual([len(w) for w in writes], [4096, 4096])

    def test_lineLongerThanPipeBufGoesWholeAndAlone(self) -> None:
        """
        A line longer than PIPE_BUF (a long request target) is written in
        one write of its own, never cut: the lines before and after it go
        in their own writes.
        """
        writes: list[bytes] = []
        self.patch(os, "write", lambda fd, data: writes.append(data) or len(data))
        LineWriter(descriptor=99).write(0, ["a" * 99, "b" * 5000, "c" * 99])
        self.assertEqual(
            writes, [b"a" * 99 + b"\n", b"b" * 5000 + b"\n", b"c" * 99 + b"\n"]
        )

    def test_emptyBatchWritesNothing(self) -> None:
        """
        No lines, no write (not even an empty line).
        """
        writes: list[bytes] = []
        self.patch(os, "write", lambda fd, data: writes.append(data) or len(data))
        LineWriter(descriptor=99, prefixed=True).write(0, [])
        self.assertEqual(writes, [])

    def test_interruptedWriteGoesOn(self) -> None:
        """
        A write interrupted by a signal is made again.
        """
        writes: list[bytes] = []
        interrupted = [True]

        def write(fd: int, data: bytes) -> int:
            if interrupted:
                interrupted.pop()
                raise InterruptedError()
            writes.append(data)
            return len(data)

        self.patch(os, "write", write)
        LineWriter(descriptor=99).write(0, ["a"])
        self.assertEqual(writes, [b"a\n"])

    def test_prefixEachSecond(self) -> None:
        """
        The prefix follows the second of each write, the first second
        included.
        """
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        self.addCleanup(os.close, write)
        writer = LineWriter(descriptor=write, prefixed=True)
        writer.write(1, ["a"])
        writer.write(1, ["b"])
        writer.write(2, ["c"])
        self.assertEqual(
            os.read(read, 1000).decode().splitlines(),
            [
                f"{formatTime(1)} [hello_service.access#info] a",
                f"{formatTime(1)} [hello_service.access#info] b",
                f"{formatTime(2)} [hello_service.access#info] c",
            ],
        )

    def test_fileModeAndStreamNeverClosed(self) -> None:
        """
        A new access log file is readable by all and writable by its owner
        (as the umask allows); closing a writer on an inherited stream
        leaves the stream open; closing twice is harmless.
        """
        path = Path(self.mktemp())
        writer = LineWriter(path=str(path))
        writer.close()
        writer.close()
        umask = os.umask(0)
        os.umask(umask)
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o644 & ~umask)
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        self.addCleanup(os.close, write)
        LineWriter(descriptor=write).close()
        os.fstat(write)

    def test_reopenErrorInTheAccessNamespace(self) -> None:
        """
        The reopen error is logged in the access log's namespace.
        """
        directory = Path(self.mktemp())
        directory.mkdir()
        writer = LineWriter(path=str(directory / "a.log"))
        (directory / "a.log").unlink()
        directory.rmdir()
        with capturedLogs() as events:
            writer.reopen()
        writer.close()
        self.assertEqual([e["log_namespace"] for e in events], ["hello_service.access"])

    def test_reopenClosesTheOldFile(self) -> None:
        """
        Reopening closes the descriptor of the renamed file: none leaks.
        """
        path = Path(self.mktemp())
        writer = LineWriter(path=str(path))
        old = writer._descriptor
        assert old is not None
        writer.reopen()
        self.addCleanup(writer.close)
        self.assertNotEqual(writer._descriptor, old)
        with self.assertRaises(OSError):
            os.fstat(old)


class AccessLogTests(SynchronousTestCase):
    def test_linesToTheWriter(self) -> None:
        """
        With a writer, a batch is one write of its lines, at the interval's
        end, stamped with the second it was written in.
        """
        clock = Clock()
        clock.advance(784111777)
        path = Path(self.mktemp())
        log = AccessLog(clock, LineWriter(path=str(path)))
        with capturedLogs() as events:
            log.record("c", REQUEST, b"200", 5, 0.0, 0.0)
            log.record("c", REQUEST, b"200", 5, 0.0, 0.0)
            clock.advance(log.interval)
        self.assertEqual(events, [])
        self.assertEqual(len(path.read_text().splitlines()), 2)
        self.assertIn("[06/Nov/1994:08:49:37 +0000]", path.read_text())

    def test_timedFormatRecordsTheAnswerTime(self) -> None:
        """
        A timed format gets the time the answer was recorded (handed to the
        kernel) beside the first byte's.
        """
        clock = Clock()
        clock.advance(100.5)
        path = Path(self.mktemp())
        log = AccessLog(clock, LineWriter(path=str(path)), JsonFormat())
        log.record("c", REQUEST, b"200", 5, 99.0, clock.seconds())
        log.close()
        [entry] = [json.loads(line) for line in path.read_text().splitlines()]
        self.assertEqual(entry["duration"], 1.5)
        self.assertEqual(entry["time"], "1970-01-01T00:01:40.500Z")

    def test_reopenWritesWhatIsPendingFirst(self) -> None:
        """
        Reopening writes the lines pending to the old file first.
        """
        clock = Clock()
        path = Path(self.mktemp())
        log = AccessLog(clock, LineWriter(path=str(path)))
        log.record("c", REQUEST, b"200", 5, 0.0, 0.0)
        path.rename(str(path) + ".1")
        log.reopen()
        log.record("c", REQUEST, b"404", 5, 0.0, 0.0)
        log.close()
        self.assertIn('" 200 5 ', Path(str(path) + ".1").read_text())
        self.assertIn('" 404 5 ', path.read_text())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_noAccessLog(self) -> None:
        """
        C{--no-access-log} records nothing, and needs no timer.
        """
        clock = Clock()
        log = NoAccessLog()
        with capturedLogs() as events:
            log.record("c", REQUEST, b"200", 5, 0.0, 0.0)
            log.flush()
            log.reopen()
            log.close()
        self.assertEqual((events, clock.getDelayedCalls()), ([], []))
