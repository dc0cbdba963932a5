"""
C{hello_refused_total{cause}} read from outside, before and after: a real
process (one, and with workers) refused a malformed request, a head and a
body over their limits, a head sent too slowly and a client gone idle, and
each counts exactly once, under its cause; nothing else moves.
"""

from __future__ import annotations

import re
import socket

from twisted.trial.unittest import SynchronousTestCase

from ..support.processes import readUntilClosed, request, startHello
from ..support.waiting import until

METRICS = b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"


def refusals(adminPort: int) -> dict[str, float]:
    text = request(adminPort, METRICS).decode()
    return {
        cause: float(value)
        for cause, value in re.findall(
            r'hello_refused_total\{cause="(\w+)"\} (\S+)', text
        )
    }


class RefusalCountsMixin:
    arguments: tuple[str, ...] = ()

    def test_eachCountedOnce(self) -> None:
        test: SynchronousTestCase = self  # type: ignore[assignment]
        process = startHello(
            test, *self.arguments, "--header-timeout", "0.5", "--idle-timeout", "0.5",
            "--max-body-size", "10", "--admin", "tcp:0:interface=127.0.0.1",
        )  # fmt: skip
        port = process.port()
        adminPort = process.adminPort()
        before = refusals(adminPort)
        test.assertEqual(set(before.values()), {0.0})

        def sent(data: bytes) -> bytes:
            return request(port, data)

        test.assertIn(b" 400 ", sent(b"GET / HTTP/1.1\r\nHost a\r\n\r\n")[:20])
        test.assertIn(
            b" 431 ",
            sent(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 70_000 + b"\r\n\r\n")[
                :20
            ],
        )
        test.assertIn(
            b" 413 ",
            sent(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")[:20],
        )
        # Too slow: half a head, then nothing, answered 408 after 0.5 s.
        test.assertIn(b" 408 ", sent(b"GET / HTTP/1.1\r\nHost: a\r\n")[:20])
        # Idle: one answer, then silence until the server closes.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            idle.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            test.assertIn(b" 200 ", readUntilClosed(idle, 10)[:20])

        def reported() -> dict[str, float] | None:
            after = refusals(adminPort)
            return after if sum(after.values()) >= 5 else None

        # Workers report every second.
        after = until(reported, 5, "the five refusals counted", every=0.2)
        moved = {
            cause: after[cause] - before[cause]
            for cause in after
            if after[cause] != before[cause]
        }
        test.assertEqual(
            moved,
            {"malformed": 1, "header_limit": 1, "body_limit": 1, "header_timeout": 1,
             "idle_timeout": 1},
        )  # fmt: skip


class OneProcessRefusalTests(RefusalCountsMixin, SynchronousTestCase):
    pass


class WorkersRefusalTests(RefusalCountsMixin, SynchronousTestCase):
    arguments = ("--workers", "2")
