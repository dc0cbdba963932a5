# -*- test-case-name: tests.test_http3 -*-
"""
aioquic's QUIC and HTTP/3 connections, with what a server facing the
internet changes in them.  aioquic is sans-I/O: these classes hold state
and turn datagrams into events and answers into datagrams; the endpoint
(L{hello_service.connection.http3.endpoint}) moves the datagrams and the
session (L{hello_service.connection.http3.session}) answers the requests.

What changes, and why:

  - B{Connection IDs that name their worker.}  With C{--workers}, every
    worker reads its own C{SO_REUSEPORT} socket, and the kernel picks the
    socket by the client's address: a client whose address changes (a
    phone moving from Wi-Fi to mobile) lands on any worker.  The first
    byte of every connection ID this server issues is its worker's number,
    so a worker that receives a packet for a connection it does not hold
    can tell whose it is (L{workerOf}).
  - B{Windows that cannot be inflated} (aioquic issue 589, closed
    unfixed).  aioquic doubles a stream's receive window, and the
    connection's, whenever the highest offset the client reached passes
    half of it, and a sparse frame reaches any offset for free: a few
    frames would grant the client windows of 2**62 bytes, and every byte
    of a gap is buffered.  Here a stream's window stays what was
    announced (hello reads at most C{--max-body-size} of a request body),
    and the connection's grows only to what was used plus one window.
  - B{Stream limits that are hello's}: the bidirectional streams a client
    may have open at once are C{--max-concurrent-streams}, as for HTTP/2
    (aioquic fixes 128), and the unidirectional ones the few HTTP/3 needs.
  - B{A malformed request is a stream error} (RFC 9114 section 4.1.2):
    aioquic ends the whole connection with H3_MESSAGE_ERROR, and checks
    only C{:method} and C{:authority}; here the stream alone is reset, and
    every rule of L{hello_service.http.fieldlists} applies.
  - B{GOAWAY} (RFC 9114 section 5.2), which aioquic has no call to send.

Each private name of aioquic used here is fenced by C{tests.test_fences}.
"""

from __future__ import annotations

import os
from typing import Any

from aioquic import tls
from aioquic.buffer import encode_uint_var
from aioquic.h3.connection import (
    ErrorCode,
    FrameType,
    H3Connection,
    HeadersState,
    MessageError,
    Setting,
)
from aioquic.h3.events import H3Event
from aioquic.quic.connection import Limit, QuicConnection, QuicConnectionId

#: The length of every connection ID hello issues: its worker's number,
#: then seven random bytes.
CID_LENGTH = 8


def workerOf(connectionId: bytes) -> int:
    """
    The worker that issued C{connectionId} (its first byte), by the
    convention of L{ServerQuic}.
    """
    return connectionId[0] if connectionId else -1


class _Window(Limit):
    """
    The connection's receive window (C{MAX_DATA}): aioquic doubles it as
    the client's highest offsets grow; here a raise goes no further than
    what was used plus one window, and a window never shrinks.
    """

    def __init__(self, frame_type: int, name: str, value: int) -> None:
        self._value = value
        self.window = value
        super().__init__(frame_type, name, value)

    @property
    def value(self) -> int:
        return self._value

    @value.setter
    def value(self, wanted: int) -> None:
        self._value = max(self._value, min(wanted, self.used + self.window))


class ServerQuic(QuicConnection):
    """
    aioquic's QUIC connection as a server of hello's serves it.

    @param worker: the number the connection IDs carry (C{--workers}), or
        C{None} in one process (all random).
    @param maxStreams: the bidirectional streams the client may have open
        at once.
    """

    #: The unidirectional streams a client may open: HTTP/3's control
    #: stream and QPACK's two, and as many again for the grease streams
    #: clients open (RFC 9114 section 6.2.3).
    MAX_UNI_STREAMS = 6

    def __init__(
        self, *, worker: int | None, maxStreams: int, **connection: Any
    ) -> None:
        self._worker = worker
        super().__init__(**connection)
        if worker is not None:
            first = self._host_cids[0]
            first.cid = self._issued()
            self.host_cid = self._local_initial_source_connection_id = first.cid
        self._local_max_streams_bidi.value = self._local_max_streams_bidi.sent = (
            maxStreams
        )
        self._local_max_streams_uni.value = self._local_max_streams_uni.sent = (
            self.MAX_UNI_STREAMS
        )
        window = self._local_max_data
        self._local_max_data = _Window(window.frame_type, window.name, window.value)

    def _issued(self) -> bytes:
        """A new connection ID: random, but for the worker's number first."""
        random = os.urandom(CID_LENGTH)
        if self._worker is None:
            return random
        return bytes((self._worker,)) + random[1:]

    def _replenish_connection_ids(self) -> None:
        # aioquic's, but for the worker's number in each ID.
        while len(self._host_cids) < min(8, self._remote_active_connection_id_limit):
            self._host_cids.append(
                QuicConnectionId(
                    cid=self._issued(),
                    sequence_number=self._host_cid_seq,
                    stateless_reset_token=os.urandom(16),
                )
            )
            self._host_cid_seq += 1

    def _write_stream_limits(self, builder: Any, space: Any, stream: Any) -> None:
        # A stream's window stays what was announced: never raised, so
        # never inflated (see the module's docstring).
        return

    @property
    def answersDelivered(self) -> bool:
        """
        Whether every request stream is done both ways, its answer
        acknowledged by the client: only then may a drain's
        CONNECTION_CLOSE go, which would otherwise discard what is unsent.
        """
        return not any(streamId % 4 == 0 for streamId in self._streams)

    @property
    def readAnything(self) -> bool:
        """
        Whether any packet received could be decrypted: a new connection
        whose first datagram held none is no client's, and is dropped.
        """
        space = self._spaces.get(tls.Epoch.INITIAL)
        return space is not None and space.largest_received_packet >= 0


class MalformedStream(H3Event):
    """
    A request stream whose field list aioquic refused (RFC 9114 section
    4.1.2): the session resets it alone.
    """

    def __init__(self, stream_id: int, reason: str) -> None:
        self.stream_id = stream_id
        self.reason = reason


class ServerH3(H3Connection):
    """
    aioquic's HTTP/3 connection, with malformed requests as stream errors,
    the settings hello announces, and GOAWAY.
    """

    def __init__(
        self, quic: QuicConnection, maxFieldSectionSize: int, tableCapacity: int
    ) -> None:
        self._maxFieldSectionSize = maxFieldSectionSize
        super().__init__(quic)
        # QPACK's dynamic table and blocked streams, as announced below.
        self._max_table_capacity = tableCapacity

    def _get_local_settings(self) -> dict[int, int]:
        settings: dict[int, int] = super()._get_local_settings()
        settings[Setting.QPACK_MAX_TABLE_CAPACITY] = self._max_table_capacity
        settings[Setting.MAX_FIELD_SECTION_SIZE] = self._maxFieldSectionSize
        return settings

    def _handle_request_or_push_frame(
        self, frame_type: int, frame_data: bytes | None, stream: Any, stream_ended: bool
    ) -> list[H3Event]:
        try:
            events: list[H3Event] = super()._handle_request_or_push_frame(
                frame_type, frame_data, stream, stream_ended
            )
        except MessageError as error:
            # The field list was decoded (QPACK's state is in step); only
            # this stream is malformed.  What follows on it is read and
            # dropped by the session, which resets the stream.
            stream.headers_recv_state = HeadersState.AFTER_HEADERS
            stream.expected_content_length = None
            return [MalformedStream(stream.stream_id, error.reason_phrase)]
        return events

    def goAway(self, streamId: int) -> None:
        """
        Send GOAWAY on the control stream: requests on streams from
        C{streamId} on will not be processed (RFC 9114 section 5.2).
        """
        control = self._local_control_stream_id
        if control is not None:
            self._quic.send_stream_data(
                control,
                encode_uint_var(FrameType.GOAWAY)
                + encode_uint_var(len(encode_uint_var(streamId)))
                + encode_uint_var(streamId),
            )


#: The HTTP/3 error codes the session uses (RFC 9114 section 8.1).
H3_NO_ERROR = ErrorCode.H3_NO_ERROR
H3_REQUEST_REJECTED = ErrorCode.H3_REQUEST_REJECTED
H3_REQUEST_CANCELLED = ErrorCode.H3_REQUEST_CANCELLED
H3_MESSAGE_ERROR = ErrorCode.H3_MESSAGE_ERROR
H3_EXCESSIVE_LOAD = ErrorCode.H3_EXCESSIVE_LOAD
