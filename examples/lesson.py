"""
What the three stages share, so that each shows only its own step: the
service's own pages, the route of a request line, the bytes of an answer,
and the command line.  (The service's versions of these are
C{hello_service/pages.py}, C{routes.py} and C{responses.py}.)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

PAGES = Path(__file__).resolve().parent.parent / "hello_service" / "pages"
HELLO = (PAGES / "hello.html").read_bytes()
NOT_FOUND = (PAGES / "404.html").read_bytes()


def route(received: bytes) -> tuple[bytes, bytes, bool]:
    """
    The status, the page and whether it is slow (C{/sleep}), from the first
    bytes of a request: only its request line counts, as in the book.
    """
    method, _, rest = received.partition(b" ")
    target = rest.partition(b" ")[0].partition(b"?")[0]
    if method == b"GET" and target in (b"/", b"/sleep"):
        return b"200 OK", HELLO, target == b"/sleep"
    return b"404 NOT FOUND", NOT_FOUND, False


def answer(status: bytes, page: bytes) -> bytes:
    """
    A whole HTTP/1.1 answer, after which the connection is closed.
    """
    head = b"HTTP/1.1 %s\r\nContent-Type: text/html; charset=utf-8\r\n" % status
    return head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(page) + page


def options(description: str, **counts: int) -> argparse.Namespace:
    """
    C{--port PORT --sleep SECONDS}, and a C{--NAME N} for each of C{counts}
    (C{threads=10}: C{--threads N}, 10 by default).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=7878)
    parser.add_argument("--sleep", type=float, default=5.0, metavar="SECONDS")
    for name, default in counts.items():
        parser.add_argument(f"--{name}", type=int, default=default, metavar="N")
    return parser.parse_args()


def announce(listening: Any, how: str) -> None:
    """
    Say where the stage serves, and how (the tests wait for this line).
    """
    print(f"serving on tcp:127.0.0.1:{listening.getHost().port}, {how}", flush=True)
