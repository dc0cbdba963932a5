# -*- test-case-name: tests.test_hostile -*-
"""
Malformed and hostile requests: each gets its exact status, and the
connection either closes or stays in sync, in memory and over real TCP.
"""

from __future__ import annotations

import re

from twisted.trial.unittest import SynchronousTestCase

from .support.builders import connect, makeFactory

OPEN, CLOSED = False, True


def post(headers: bytes, body: bytes = b"", version: bytes = b"1.1") -> bytes:
    host = b"Host: x\r\n" if version == b"1.1" else b""
    return b"POST / HTTP/" + version + b"\r\n" + host + headers + b"\r\n" + body


def head(line: bytes = b"GET / HTTP/1.1", headers: bytes = b"Host: x\r\n") -> bytes:
    return line + b"\r\n" + headers + b"\r\n"


NEXT = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
BIG = 70 * 1024

#: (name, bytes sent, statuslines answered in order, whether the server closes)
CASES: list[tuple[str, bytes, list[bytes], bool]] = [
    # Request smuggling: framing the parser must refuse.
    ("CL with TE", post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), [b"400"], CLOSED),
    ("TE with CL", post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"), [b"400"], CLOSED),
    ("duplicate CL, same value", post(b"Content-Length: 1\r\nContent-Length: 1\r\n", b"a"), [b"400"], CLOSED),
    ("CL as a list", post(b"Content-Length: 1, 1\r\n", b"a"), [b"400"], CLOSED),
    ("CL with a sign", post(b"Content-Length: +1\r\n", b"a"), [b"400"], CLOSED),
    ("CL negative", post(b"Content-Length: -1\r\n", b"a"), [b"400"], CLOSED),
    ("CL in hex", post(b"Content-Length: 0x1\r\n", b"a"), [b"400"], CLOSED),
    ("CL with inner space", post(b"Content-Length: 1 0\r\n", b"a"), [b"400"], CLOSED),
    ("CL empty", post(b"Content-Length: \r\n"), [b"400"], CLOSED),
    ("CL overflowing", post(b"Content-Length: 99999999999999999999999\r\n"), [b"400"], CLOSED),
    ("TE gzip alone", post(b"Transfer-Encoding: gzip\r\n"), [b"400"], CLOSED),
    ("TE chunked not last", post(b"Transfer-Encoding: chunked, gzip\r\n"), [b"400"], CLOSED),
    ("TE xchunked", post(b"Transfer-Encoding: xchunked\r\n"), [b"400"], CLOSED),
    ("TE twice", post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), [b"400"], CLOSED),
    ("TE with space before colon", post(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), [b"400"], CLOSED),
    ("TE value with vertical tab", post(b"Transfer-Encoding: \x0bchunked\r\n", b"0\r\n\r\n"), [b"400"], CLOSED),
    ("TE in HTTP/1.0 closes", post(b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n", b"1.0") + NEXT, [b"405"], CLOSED),
    ("chunk size not hex", post(b"Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n"), [b"400"], CLOSED),
    ("chunk size 0x", post(b"Transfer-Encoding: chunked\r\n", b"0x3\r\nabc\r\n0\r\n\r\n"), [b"400"], CLOSED),
    ("chunk size overflowing", post(b"Transfer-Encoding: chunked\r\n", b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n"), [b"400"], CLOSED),
    ("chunk without CRLF", post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabcX0\r\n\r\n"), [b"400"], CLOSED),
    ("chunk size bare LF", post(b"Transfer-Encoding: chunked\r\n", b"3\nabc\r\n0\r\n\r\n"), [b"400"], CLOSED),
    # Bad bytes and bad syntax.
    ("bare LF line ends", b"GET / HTTP/1.1\nHost: x\n\n", [b"400"], CLOSED),
    ("bare LF in a header", b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", [b"400"], CLOSED),
    ("bare CR", b"GET / HTTP/1.1\rHost: x\r\n\r\n", [b"400"], CLOSED),
    ("CR in a value", head(headers=b"Host: x\r\nX: a\rb\r\n"), [b"400"], CLOSED),
    ("obs-fold", head(headers=b"Host: x\r\nX: a\r\n b\r\n"), [b"400"], CLOSED),
    ("NUL in a value", head(headers=b"Host: x\r\nX: a\x00b\r\n"), [b"400"], CLOSED),
    ("NUL in a name", head(headers=b"Host: x\r\nX\x00: a\r\n"), [b"400"], CLOSED),
    ("space before colon", head(headers=b"Host: x\r\nX : a\r\n"), [b"400"], CLOSED),
    ("header without colon", head(headers=b"Host: x\r\nXa\r\n"), [b"400"], CLOSED),
    ("empty header name", head(headers=b"Host: x\r\n: a\r\n"), [b"400"], CLOSED),
    ("header line starting with space", head(headers=b" Host: x\r\n"), [b"400"], CLOSED),
    ("bad method token", head(b"G(T / HTTP/1.1"), [b"400"], CLOSED),
    ("unknown method token", head(b"BREW / HTTP/1.1"), [b"405"], CLOSED),
    ("lower-case method", head(b"get / HTTP/1.1"), [b"405"], CLOSED),
    ("CONNECT", head(b"CONNECT x:80 HTTP/1.1"), [b"405"], CLOSED),
    ("space in target", head(b"GET /a b HTTP/1.1"), [b"400"], CLOSED),
    ("control byte in target", head(b"GET /a\x01b HTTP/1.1"), [b"400"], CLOSED),
    ("no target", head(b"GET  HTTP/1.1"), [b"400"], CLOSED),
    ("TLS hello on plain HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", [b"400"], CLOSED),
    # Versions and Host.
    ("HTTP/2.0", head(b"GET / HTTP/2.0"), [b"505"], CLOSED),
    ("HTTP/0.9", b"GET /\r\n\r\n", [b"505"], CLOSED),
    ("HTTP/1.2", head(b"GET / HTTP/1.2"), [b"505"], CLOSED),
    # The HTTP/2 preface is HTTP/2 (tests.test_http2), answered in frames;
    # a broken frame after it ends the connection with no HTTP/1.1 answer.
    ("HTTP/2 preface, then DATA on stream 0", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(9), [], CLOSED),
    ("lower-case protocol", head(b"GET / http/1.1"), [b"400"], CLOSED),
    ("HTTP/1.1 without Host", head(headers=b""), [b"400"], CLOSED),
    ("two Hosts", head(headers=b"Host: a\r\nHost: b\r\n"), [b"400"], CLOSED),
    ("HTTP/1.0 with two Hosts", head(b"GET / HTTP/1.0", b"Host: a\r\nHost: b\r\n"), [b"400"], CLOSED),
    # Sizes.
    ("request line of 9 KiB", head(b"GET /" + b"a" * 9 * 1024 + b" HTTP/1.1"), [b"414"], CLOSED),
    ("head of 17 KiB", head(headers=b"Host: x\r\nX: " + b"a" * 17 * 1024 + b"\r\n"), [b"431"], CLOSED),
    ("101 header fields", head(headers=b"Host: x\r\n" + b"X: y\r\n" * 100), [b"431"], CLOSED),
    ("100 header fields", head(headers=b"Host: x\r\n" + b"X: y\r\n" * 99) + NEXT, [b"200", b"404"], OPEN),
    ("body over the limit by CL", post(b"Content-Length: %d\r\n" % BIG, b"a" * BIG), [b"413"], CLOSED),
    ("body over the limit chunked", post(b"Transfer-Encoding: chunked\r\n", b"%x\r\n" % BIG + b"a" * BIG + b"\r\n0\r\n\r\n"), [b"413"], CLOSED),
    # Bodies never desynchronise the connection.
    ("CL body, then a request", post(b"Content-Length: %d\r\n" % len(NEXT), NEXT) + NEXT, [b"405", b"404"], OPEN),
    ("chunked body, then a request", post(b"Transfer-Encoding: chunked\r\n", b"%x\r\n" % len(NEXT) + NEXT + b"\r\n0\r\n\r\n") + NEXT, [b"405", b"404"], OPEN),
    ("chunk extensions and trailers", post(b"Transfer-Encoding: chunked\r\n", b"3;a=b\r\nabc\r\n0\r\nT: v\r\n\r\n") + NEXT, [b"405", b"404"], OPEN),
    ("GET with a body", head(headers=b"Host: x\r\nContent-Length: %d\r\n" % len(NEXT)) + NEXT + NEXT, [b"200", b"404"], OPEN),
    ("body of exactly the limit", post(b"Content-Length: 65536\r\n", b"a" * 65536) + NEXT, [b"405", b"404"], OPEN),
    ("Expect: 100-continue", post(b"Content-Length: 3\r\nExpect: 100-continue\r\n", b"abc") + NEXT, [b"405", b"404"], OPEN),
    ("empty line before a request", b"\r\n" + NEXT, [b"404"], OPEN),
    ("upgrade answered, then closed", head(headers=b"Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n") + b"\x00garbage", [b"200"], CLOSED),
    ("good requests, then garbage", NEXT + NEXT + b"garbage\r\n\r\n", [b"404", b"404", b"400"], CLOSED),
]  # fmt: skip


def statuslines(data: bytes) -> list[bytes]:
    return re.findall(rb"HTTP/1\.1 (\d{3}) ", data)


class HostileInMemoryTests(SynchronousTestCase):
    """
    The whole table against a L{StringTransport}.
    """

    def test_table(self) -> None:
        """
        Every case gets exactly its statuslines, and closes or stays open as
        the table says.
        """
        self.assertGreaterEqual(len(CASES), 40)
        for name, data, expected, closes in CASES:
            protocol, transport = connect(makeFactory())
            protocol.dataReceived(data)
            answer = transport.value()
            self.assertEqual(statuslines(answer), expected, name)
            self.assertEqual(transport.disconnecting, closes, name)
            if expected and expected[-1][:1] in b"45" and closes:
                self.assertIn(b"\r\nConnection: close\r\n", answer, name)

    def test_tableOneByteAtATime(self) -> None:
        """
        Byte by byte, the final answers are the same (the method check
        aside, which only sees a method arriving whole; a head that arrives
        before its body may also get a C{100 Continue}).
        """
        for name, data, expected, closes in CASES:
            if b"BREW" in data or b"get /" in data or len(data) > 20000:
                continue
            protocol, transport = connect(makeFactory())
            for i in range(len(data)):
                protocol.dataReceived(data[i : i + 1])
            final = [s for s in statuslines(transport.value()) if s[:1] != b"1"]
            self.assertEqual(final, expected, name)
            self.assertEqual(transport.disconnecting, closes, name)
