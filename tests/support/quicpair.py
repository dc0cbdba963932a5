"""
QUIC in memory, for the HTTP/3 unit tests: an aioquic client and a
L{QuicEndpoint} exchanging datagrams through lists, on a C{task.Clock} (the
mock stream of the original, for a protocol on datagrams).
"""

from __future__ import annotations

from typing import Any

from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, StreamReset
from twisted.internet.task import Clock

from hello_service.connection.http3.endpoint import QuicEndpoint
from hello_service.connection.http3.settings import HTTP3Settings
from hello_service.connection.protocol import HelloFactory

from .builders import makeFactory
from .certificates import sharedObjects
from .http3client import Answer, Fields, _ClientH3, clientConfiguration, requestFields

SERVER = ("127.0.0.1", 443)
CLIENT = ("10.0.0.7", 50000)


def credentials() -> tuple[Any, Any, list[Any]]:
    """A certificate for localhost, its key, and no chain."""
    certificate, key = sharedObjects()
    return certificate, key, []


class Datagrams:
    """The endpoint's transport: what it sends, kept; or a full buffer."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any]] = []
        self.full = False

    def write(self, data: bytes, addr: Any) -> None:
        if self.full:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        self.sent.append((data, addr))


def makeEndpoint(
    clock: Clock | None = None,
    factory: HelloFactory | None = None,
    settings: HTTP3Settings | None = None,
    worker: int | None = None,
) -> QuicEndpoint:
    if factory is None:
        factory = makeFactory(clock or Clock())
    factory.clock.advance(1000)  # type: ignore[attr-defined]
    endpoint = QuicEndpoint(factory, settings or HTTP3Settings(), credentials, worker)
    endpoint.transport = Datagrams()  # type: ignore[assignment]
    return endpoint


class Client:
    """
    One aioquic client connection to C{endpoint}, pumped by hand.
    """

    def __init__(
        self, endpoint: QuicEndpoint, address: tuple[str, int] = CLIENT, **settings: Any
    ) -> None:
        self.endpoint = endpoint
        self.clock: Clock = endpoint._clock  # type: ignore[assignment]
        self.address = address
        self.quic = QuicConnection(configuration=clientConfiguration(**settings))
        self.h3 = _ClientH3(self.quic)
        self.answers: dict[int, Answer] = {}
        self.terminated: ConnectionTerminated | None = None
        self.goAway: list[int] = []
        self.quic.connect(SERVER, now=self.clock.seconds())

    def pump(self, rounds: int = 200) -> None:
        """
        Exchange datagrams until neither side has any to send, letting a
        millisecond pass at a time while the client paces its packets (at
        most 20 ms in all).
        """
        transport: Any = self.endpoint.transport
        idle = 0
        for _ in range(rounds):
            now = self.clock.seconds()
            out = self.quic.datagrams_to_send(now)
            for data, _ in out:
                self.endpoint.datagramReceived(data, self.address)
            back = [d for d, addr in transport.sent if addr == self.address]
            transport.sent = [(d, a) for d, a in transport.sent if a != self.address]
            for data in back:
                self.quic.receive_datagram(data, SERVER, now)
            self._events()
            if out or back:
                idle = 0
                continue
            idle += 1
            if idle > 20:
                return
            self.clock.advance(0.001)

    def _events(self) -> None:
        event = self.quic.next_event()
        while event is not None:
            if isinstance(event, ConnectionTerminated):
                self.terminated = event
            if isinstance(event, StreamReset):
                answer = self.answers.setdefault(
                    event.stream_id, Answer(event.stream_id)
                )
                answer.reset = event.error_code
            for h3event in self.h3.handle_event(event):
                streamId = getattr(h3event, "stream_id", None)
                if streamId is None:
                    continue
                answer = self.answers.setdefault(streamId, Answer(streamId))
                headers = getattr(h3event, "headers", None)
                if headers is not None:
                    answer.headers = list(headers)
                answer.body += getattr(h3event, "data", b"") or b""
                answer.ended = answer.ended or bool(
                    getattr(h3event, "stream_ended", False)
                )
            event = self.quic.next_event()
        # GOAWAY: aioquic's client parses it but keeps nothing; read the
        # server's control stream ourselves.
        self.goAway = list(self.h3.goAways)

    def connect(self) -> Client:
        self.pump()
        return self

    def send(
        self, fields: Fields | None = None, body: bytes = b"", end: bool = True
    ) -> int:
        fields = requestFields() if fields is None else fields
        streamId = self.quic.get_next_available_stream_id()
        if (b":method", b"HEAD") in fields:
            self.h3.heads.add(streamId)
        self.h3.send_headers(streamId, fields, end_stream=end and not body)
        if body:
            self.h3.send_data(streamId, body, end_stream=end)
        return streamId

    def request(self, fields: Fields | None = None) -> Answer:
        streamId = self.send(fields)
        self.pump()
        return self.answers.get(streamId, Answer(streamId))

    def cancel(self, streamId: int, code: int = 0x10C) -> None:
        self.quic.reset_stream(streamId, code)
        self.quic.stop_stream(streamId, code)
        self.pump()

    def advance(self, seconds: float) -> None:
        """Let time pass on both sides, firing their timers."""
        self.clock.advance(seconds)
        timer = self.quic.get_timer()
        if timer is not None and timer <= self.clock.seconds():
            self.quic.handle_timer(self.clock.seconds())
        self.pump()
