# -*- test-case-name: tests.test_http3,tests.system.test_http3 -*-
"""
One UDP port's QUIC: every datagram of every client comes to this one
C{DatagramProtocol}, which finds its connection by the connection ID the
packet carries, lets new clients in by the admission policy
(L{hello_service.connection.http3.admission}), keeps every connection's
timer in one heap under one delayed call (as the TCP deadlines are kept),
and sends what the connections have to send.

What a packet costs before it is known to be a client's:

  - a datagram that is no QUIC packet, or a short-header packet for no
    connection held here: parsed, counted, dropped;
  - an unknown version: a Version Negotiation packet, only for a datagram
    large enough to be a client's first (RFC 9000 section 6.1 and 14.1),
    so it cannot be used to amplify;
  - an Initial that cannot be decrypted: dropped with the connection it
    would have opened, at once, so garbage keeps no state;
  - past the handshakes bound, a Retry (at a capped rate), or a drop.

A send that fails (C{EAGAIN}, C{ENOBUFS}: the socket's buffer is full) is
a lost packet, counted; QUIC's own loss recovery sends it again.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING, Any

from aioquic.buffer import Buffer  # type: ignore[attr-defined]
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.crypto import CryptoPair
from aioquic.quic.packet import (
    QuicErrorCode,
    QuicFrameType,
    QuicPacketType,
    encode_quic_retry,
    encode_quic_version_negotiation,
    pull_quic_header,
)
from aioquic.quic.packet_builder import QuicPacketBuilder
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import DatagramProtocol

from hello_service.connection.http3.admission import RetryBudget, RetryTokens
from hello_service.connection.http3.quic import CID_LENGTH, ServerQuic, workerOf
from hello_service.connection.http3.session import HTTP3Session
from hello_service.connection.http3.settings import HTTP3Settings

if TYPE_CHECKING:
    from hello_service.connection.protocol import HelloFactory

#: The smallest datagram a client's first packet comes in (RFC 9000
#: section 14.1): smaller ones open nothing and are answered with nothing.
SMALLEST_INITIAL = 1200


class QuicEndpoint(DatagramProtocol):
    """
    The QUIC connections of one UDP port, served by the factory's answer
    layer and counted among its connections.

    @param credentials: the certificate, key and chain to present, asked
        for at each new connection (so a reload takes effect for the next
        handshake).
    @param worker: this worker's number, which the connection IDs it issues
        carry (C{--workers}), or C{None} in one process.
    """

    noisy = False

    def __init__(
        self,
        factory: HelloFactory,
        settings: HTTP3Settings,
        credentials: Callable[[], tuple[Any, Any, list[Any]]],
        worker: int | None = None,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self._credentials = credentials
        #: The factory's clock, which the sessions read too.
        self._clock: IReactorTime = factory.clock
        self._worker = worker
        key = bytes.fromhex(settings.retryKey) if settings.retryKey else os.urandom(16)
        self._tokens = RetryTokens(key)
        self._retries = RetryBudget(settings.retriesPerSecond, self._clock.seconds())
        #: Every connection ID in use, to its connection.
        self._sessions: dict[bytes, HTTP3Session] = {}
        self._handshakes = 0
        #: Whether new connections are refused (the service drains).
        self.closedToNew = False
        #: Timers: (when, order, connection), the earliest first; an entry
        #: whose time is no longer its connection's is skipped.
        self._timers: list[tuple[float, int, HTTP3Session]] = []
        self._order = count()
        self._wakeUp: IDelayedCall | None = None
        #: The connections with something to send at the end of this turn.
        self._pending: dict[HTTP3Session, None] = {}
        self._wakeUpAt: float | None = None

    # Datagrams in.

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=CID_LENGTH)
        except ValueError:
            self.factory.counts.refused("quic_garbage")
            return
        session = self._sessions.get(header.destination_cid)
        now = self._clock.seconds()
        if session is not None:
            session.datagramReceived(data, addr, now)
            self.send(session)
            return
        if header.version is None:
            # A short header for a connection not held here: another
            # worker's (its address changed), or one already gone.
            if (
                self._worker is not None
                and workerOf(header.destination_cid) != self._worker
            ):
                self.factory.counts.refused("quic_other_worker")
            else:
                self.factory.counts.refused("quic_unknown_connection")
            return
        if len(data) < SMALLEST_INITIAL:
            self.factory.counts.refused("quic_garbage")
            return
        if header.version not in _VERSIONS:
            if header.packet_type is not QuicPacketType.VERSION_NEGOTIATION:
                self._write(
                    encode_quic_version_negotiation(
                        source_cid=header.destination_cid,
                        destination_cid=header.source_cid,
                        supported_versions=_VERSIONS,
                    ),
                    addr,
                )
                self.factory.counts.refused("quic_version")
            return
        if header.packet_type is not QuicPacketType.INITIAL:
            self.factory.counts.refused("quic_unknown_connection")
            return
        self._newConnection(data, addr, header, now)

    def _newConnection(self, data: bytes, addr: Any, header: Any, now: float) -> None:
        settings = self.settings
        if self.closedToNew:
            self.factory.counts.refused("quic_draining")
            return
        if self._handshakes >= settings.maxHandshakes:
            self.factory.counts.refused("quic_handshakes")
            return
        if not self._placeFor(addr, header):
            return
        retryId = None
        if header.token:
            original = self._tokens.open(
                header.token, addr, header.destination_cid, now
            )
            if original is None:
                self.factory.counts.refused("quic_invalid_token")
                return
            retryId = header.destination_cid
        else:
            original = header.destination_cid
            if self._handshakes >= settings.retryAbove:
                self._retry(addr, header, now)
                return
        host, key, chain = self._credentials()
        quic = ServerQuic(
            worker=self._worker,
            maxStreams=self._maxStreams(),
            configuration=QuicConfiguration(
                is_client=False,
                alpn_protocols=["h3"],
                connection_id_length=CID_LENGTH,
                # QUIC's own idle timeout only ends a connection whose client
                # vanished mid-request: --idle-timeout is the session's.
                idle_timeout=max(60.0, 2 * self.factory.timeouts.idle),
                max_data=settings.connectionWindow,
                max_stream_data=self.factory.requestLimits.maxBody + 1024,
                certificate=host,
                private_key=key,
                certificate_chain=chain,
            ),
            original_destination_connection_id=original,
            retry_source_connection_id=retryId,
        )
        session = HTTP3Session(self, quic, addr, now)
        session.datagramReceived(data, addr, now)
        if not quic.readAnything:
            # Nothing in it could be read: keep nothing of it, count no
            # connection.
            self.factory.counts.refused("quic_undecryptable")
            return
        self.factory.quicConnectionAdmitted(session)
        self._handshakes += 1
        self._sessions[header.destination_cid] = session
        self._sessions[quic.host_cid] = session
        self.send(session)

    def _placeFor(self, addr: Any, header: Any) -> bool:
        """
        Whether the connection limit has a place for one more connection;
        if not, the client is told so (CONNECTION_CLOSE with
        CONNECTION_REFUSED), without any state or handshake work.
        """
        if self.factory.hasPlace():
            return True
        self.factory.counts.refused("connection_limit")
        self._write(
            refusal(header.version, header.destination_cid, header.source_cid),
            addr,
        )
        return False

    def _maxStreams(self) -> int:
        settings = self.factory.http2
        return 100 if settings is None else settings.maxConcurrentStreams

    def _retry(self, addr: Any, header: Any, now: float) -> None:
        """
        Answer with a Retry (no state kept), at the capped rate.
        """
        if not self._retries.take(now):
            self.factory.counts.refused("quic_retry_rate")
            return
        retryId = os.urandom(CID_LENGTH)
        if self._worker is not None:
            retryId = bytes((self._worker,)) + retryId[1:]
        self._write(
            encode_quic_retry(
                version=header.version,
                source_cid=retryId,
                destination_cid=header.source_cid,
                original_destination_cid=header.destination_cid,
                retry_token=self._tokens.issue(
                    addr, header.destination_cid, retryId, now
                ),
            ),
            addr,
        )
        self.factory.counts.refused("quic_retry")

    # What sessions tell their endpoint.

    def handshakeCompleted(self, session: HTTP3Session) -> None:
        self._handshakes -= 1

    def route(self, connectionId: bytes, session: HTTP3Session) -> None:
        self._sessions[connectionId] = session

    def unroute(self, connectionId: bytes) -> None:
        self._sessions.pop(connectionId, None)

    def closed(self, session: HTTP3Session) -> None:
        """The connection closed: it no longer counts as open."""
        if session.handshaking:
            session.handshaking = False
            self._handshakes -= 1
        self.factory.connectionClosed(session)

    def terminated(self, session: HTTP3Session) -> None:
        """QUIC is done with the connection: forget every ID of it."""
        for connectionId, held in list(self._sessions.items()):
            if held is session:
                del self._sessions[connectionId]
        session.timerAt = None

    # Datagrams out, and timers.

    def send(self, session: HTTP3Session) -> None:
        """
        Send what C{session} has to send, once this turn of the reactor has
        read every datagram waiting: a read pass brings many of a
        connection's packets at once, and one answer to them all is fewer
        packets (acknowledgements coalesced) and a fraction of the work.
        """
        pending = self._pending
        if not pending:
            self._clock.callLater(0, self._sendPending)
        pending[session] = None

    def _sendPending(self) -> None:
        pending, self._pending = self._pending, {}
        for session in pending:
            self.transmit(session)

    def transmit(self, session: HTTP3Session) -> None:
        """
        Send what C{session} has to send now, and keep its timer in the heap.
        """
        now = self._clock.seconds()
        for data, addr in session.quic.datagrams_to_send(now):
            self._write(data, addr)
        session.sent()
        when = session.nextTimer()
        if when != session.timerAt:
            session.timerAt = when
            if when is not None:
                heapq.heappush(self._timers, (when, next(self._order), session))
                self._schedule()

    def _write(self, data: bytes, addr: Any) -> None:
        try:
            self.transport.write(data, addr)  # type: ignore[union-attr]
        except OSError:
            # EAGAIN, ENOBUFS: the socket's buffer is full; QUIC resends.
            self.factory.counts.refused("quic_send_dropped")

    def _schedule(self) -> None:
        if not self._timers:
            return
        when = self._timers[0][0]
        if self._wakeUp is not None and self._wakeUp.active():
            if self._wakeUpAt is not None and self._wakeUpAt <= when:
                return
            self._wakeUp.cancel()
        self._wakeUpAt = when
        self._wakeUp = self._clock.callLater(
            max(0.0, when - self._clock.seconds()), self._fire
        )

    def _fire(self) -> None:
        self._wakeUp = self._wakeUpAt = None
        now = self._clock.seconds()
        timers = self._timers
        while timers and timers[0][0] <= now:
            when, _, session = heapq.heappop(timers)
            if session.timerAt != when:
                continue  # rescheduled since, or gone
            session.timerAt = None
            session.timerFired(now)
            self.transmit(session)
        self._schedule()

    # The service's side.

    @property
    def sessions(self) -> set[HTTP3Session]:
        """Every connection held, open or closing."""
        return set(self._sessions.values())

    def stopProtocol(self) -> None:
        if self._wakeUp is not None and self._wakeUp.active():
            self._wakeUp.cancel()
        self._wakeUp = None


def refusal(version: int, clientChosenId: bytes, clientId: bytes) -> bytes:
    """
    An Initial packet that closes a connection before it opens, with
    CONNECTION_REFUSED (RFC 9000 section 20.1): the Initial keys come from
    the connection ID the client chose, so no state is needed.
    """
    crypto = CryptoPair()
    crypto.setup_initial(cid=clientChosenId, is_client=False, version=version)
    builder = QuicPacketBuilder(
        host_cid=clientChosenId,
        is_client=False,
        max_datagram_size=SMALLEST_INITIAL,
        peer_cid=clientId,
        version=version,
    )
    builder.start_packet(QuicPacketType.INITIAL, crypto)
    frame = builder.start_frame(QuicFrameType.TRANSPORT_CLOSE, capacity=16)
    frame.push_uint_var(QuicErrorCode.CONNECTION_REFUSED)
    frame.push_uint_var(QuicFrameType.PADDING)
    frame.push_uint_var(0)
    datagrams, _ = builder.flush()
    return bytes(datagrams[0])


#: The QUIC versions served: version 1 (RFC 9000) and 2 (RFC 9369).
_VERSIONS = list(QuicConfiguration(is_client=False).supported_versions)
