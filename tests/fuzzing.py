"""
What the property tests and the fuzz harness share: request material to
build byte streams from, and the invariants every run must keep.
"""

from __future__ import annotations

import re

from hypothesis import strategies as st
from twisted.logger import capturedLogs

from .helpers import connect, makeFactory

#: Well-formed requests; any concatenation is a valid pipelined stream.
VALID_REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /sleep?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /missing HTTP/1.1\r\nHost: x\r\nUser-Agent: fuzz\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
]

#: Pieces that break requests in interesting ways when spliced in.
HOSTILE_PIECES = [
    b"\r\n", b"\n", b"\r", b"\x00", b" ", b"\t", b":", b"Content-Length: 3\r\n",
    b"Transfer-Encoding: chunked\r\n", b"Host: y\r\n", b"Connection: close\r\n",
    b"HTTP/1.1", b"HTTP/2.0", b"0\r\n\r\n", b"ffffffff\r\n", b"\xff\xfe",
    b"GET", b"POST", b"/sleep", b"a" * 300,
]  # fmt: skip

STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")

validStreams = st.lists(st.sampled_from(VALID_REQUESTS), min_size=1, max_size=8).map(
    b"".join
)


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """
    C{data} cut into chunks at arbitrary places.
    """
    cuts = sorted(
        draw(st.lists(st.integers(0, len(data)), max_size=min(len(data), 20)))
    )
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@st.composite
def mutatedStreams(draw: st.DrawFn) -> bytes:
    """
    A valid stream with pieces deleted, replaced or inserted.
    """
    data = bytearray(draw(validStreams))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "byte"]))
        piece = draw(st.sampled_from(HOSTILE_PIECES))
        if action == "insert":
            data[at:at] = piece
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 10))]
        elif action == "replace":
            data[at : at + len(piece)] = piece
        else:
            data[at : at + 1] = bytes([draw(st.integers(0, 255))])
    return bytes(data)


def serve(chunks: list[bytes]) -> tuple[bytes, bool]:
    """
    Feed C{chunks} to a fresh connection; return what it wrote and whether
    it is closing.  Raises if the protocol raises or logs an error.
    """
    protocol, transport = connect(makeFactory(delay=0))
    with capturedLogs() as events:
        for chunk in chunks:
            protocol.dataReceived(chunk)
        protocol.factory.clock.advance(0)  # type: ignore[attr-defined]
    bad = [e for e in events if e["log_level"].name in ("error", "critical")]
    assert not bad, bad
    return transport.value(), transport.disconnecting


def checkInvariants(chunks: list[bytes]) -> None:
    """
    Whatever the bytes: no exception, every answer is a well-formed
    response, and a refusal (4xx/5xx other than 404 and 405) is the last
    answer, on a closing connection.
    """
    written, closing = serve(chunks)
    statuses = STATUS.findall(written)
    assert written.count(b"HTTP/1.1 ") >= len(statuses)
    for index, status in enumerate(statuses):
        if status[:1] in b"45" and status not in (b"404", b"405"):
            assert index == len(statuses) - 1, statuses
            assert closing, statuses
