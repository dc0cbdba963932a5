"""
An HTTP/3 client for the tests, on aioquic: what a browser does over QUIC,
a request per stream, blocking the caller until the answers come (it runs
its own asyncio loop, so it works from trial, pytest and plain scripts).

Every call is bounded in time.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamReset

#: A request as a field list, the way a browser sends one.
Fields = list[tuple[bytes, bytes]]


def requestFields(
    path: bytes = b"/", method: bytes = b"GET", authority: bytes = b"localhost"
) -> Fields:
    return [
        (b":method", method),
        (b":scheme", b"https"),
        (b":authority", authority),
        (b":path", path),
        (b"user-agent", b"hello-tests-h3"),
    ]


@dataclass
class Answer:
    """What came back on one stream."""

    streamId: int
    headers: Fields = field(default_factory=list)
    body: bytes = b""
    ended: bool = False
    #: The code of a RESET_STREAM the server sent, if any.
    reset: int | None = None
    #: When the headers, the last byte, or the reset came (loop time).
    at: float = 0.0

    @property
    def status(self) -> int:
        return int(dict(self.headers).get(b":status", b"0"))

    def header(self, name: bytes) -> bytes | None:
        return dict(self.headers).get(name)


class _ClientH3(H3Connection):
    """
    aioquic's client side, but for the answer to HEAD, whose Content-Length
    describes a body not sent (RFC 9110 section 9.3.2): aioquic checks it
    against the body, as for any answer, and ends the connection.
    """

    def __init__(self, quic: Any) -> None:
        super().__init__(quic)
        self.heads: set[int] = set()
        #: The stream ids of every GOAWAY the server sent.
        self.goAways: list[int] = []

        #: What is unread of the server's control stream, its type byte read.
        self._control: bytes | None = None

    def handle_event(self, event: Any) -> Any:
        # aioquic reads GOAWAY and keeps nothing of it: read the server's
        # control stream (stream 3) again, frame by frame.
        if getattr(event, "stream_id", None) == 3 and hasattr(event, "data"):
            data = event.data
            if self._control is None:  # its first byte: the stream's type
                self._control, data = b"", data[1:]
            self._control += data
            self._readControl()
        return super().handle_event(event)

    def _readControl(self) -> None:
        from aioquic.buffer import Buffer, BufferReadError

        assert self._control is not None
        buf = Buffer(data=self._control)
        start = 0
        while True:
            try:
                kind, length = buf.pull_uint_var(), buf.pull_uint_var()
                payload = buf.pull_bytes(length)
            except BufferReadError:
                break
            if kind == 0x7:
                self.goAways.append(Buffer(data=payload).pull_uint_var())
            start = buf.tell()
        self._control = self._control[start:]

    def _check_content_length(self, stream: Any) -> None:
        if stream.stream_id not in self.heads:
            super()._check_content_length(stream)


class _Client(QuicConnectionProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = _ClientH3(self._quic)
        self.answers: dict[int, Answer] = {}
        self.waiters: dict[int, asyncio.Future[Answer]] = {}
        self.terminated: ConnectionTerminated | None = None
        self.goAway: int | None = None

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            self.terminated = event
            for waiter in self.waiters.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError(event.reason_phrase))
        if isinstance(event, StreamReset):
            answer = self.answers.setdefault(event.stream_id, Answer(event.stream_id))
            answer.reset = event.error_code
            answer.at = self._loop.time()
            self._done(event.stream_id)
        for h3event in self.h3.handle_event(event):
            self._http(h3event)

    def _http(self, event: H3Event) -> None:
        if isinstance(event, (HeadersReceived, DataReceived)):
            answer = self.answers.setdefault(event.stream_id, Answer(event.stream_id))
            if isinstance(event, HeadersReceived):
                answer.headers = list(event.headers)
            else:
                answer.body += event.data
            answer.at = self._loop.time()
            if event.stream_ended:
                answer.ended = True
                self._done(event.stream_id)

    def _done(self, streamId: int) -> None:
        waiter = self.waiters.get(streamId)
        if waiter is not None and not waiter.done():
            waiter.set_result(self.answers[streamId])

    def send(self, fields: Fields, body: bytes = b"", end: bool = True) -> int:
        streamId = self._quic.get_next_available_stream_id()
        if (b":method", b"HEAD") in fields:
            self.h3.heads.add(streamId)
        self.h3.send_headers(streamId, fields, end_stream=end and not body)
        if body:
            self.h3.send_data(streamId, body, end_stream=end)
        self.waiters[streamId] = self._loop.create_future()
        self.transmit()
        return streamId

    def sendRaw(self, fields: Fields) -> int:
        """A field list sent as it is, unchecked (aioquic checks nothing it sends)."""
        return self.send(fields)

    def cancel(self, streamId: int, code: int = 0x10C) -> None:
        """What a browser leaving a page does: RESET_STREAM and STOP_SENDING."""
        self._quic.reset_stream(streamId, code)
        self._quic.stop_stream(streamId, code)
        self.transmit()


def clientConfiguration(**settings: Any) -> QuicConfiguration:
    configuration = QuicConfiguration(
        is_client=True, alpn_protocols=H3_ALPN, **settings
    )
    configuration.verify_mode = ssl.CERT_NONE
    return configuration


async def _exchange(
    host: str,
    port: int,
    requests: Sequence[Fields],
    timeout: float,
    configuration: QuicConfiguration | None,
) -> list[Answer]:
    async with connect(
        host,
        port,
        configuration=configuration or clientConfiguration(),
        create_protocol=_Client,
        wait_connected=True,
    ) as client:
        assert isinstance(client, _Client)
        ids = [client.send(fields) for fields in requests]
        return list(
            await asyncio.wait_for(
                asyncio.gather(*(client.waiters[i] for i in ids)), timeout
            )
        )


def get(
    port: int,
    requests: Sequence[Fields] = (),
    host: str = "127.0.0.1",
    timeout: float = 10.0,
    configuration: QuicConfiguration | None = None,
) -> list[Answer]:
    """
    Open one QUIC connection, send every request on its own stream at
    once, and return the answers, in the order asked.
    """
    return asyncio.run(
        asyncio.wait_for(
            _exchange(
                host, port, list(requests) or [requestFields()], timeout, configuration
            ),
            timeout + 5,
        )
    )


async def session(
    port: int,
    host: str = "127.0.0.1",
    configuration: QuicConfiguration | None = None,
) -> Any:
    """An open connection, for a test that drives it itself (async with)."""
    return connect(
        host,
        port,
        configuration=configuration or clientConfiguration(),
        create_protocol=_Client,
        wait_connected=True,
    )
