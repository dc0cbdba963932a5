# -*- test-case-name: tests.test_properties -*-
"""
Property-based tests of the request path with C{hypothesis}, judged by the
oracle of L{tests.support.oracle}: exact framing, one answer per request, in order.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from .support.http2oracle import checkHTTP2, fieldLists, frames
from .support.oracle import (
    Served,
    checkInvariants,
    conditions,
    mutatedStreams,
    serve,
    splits,
    validStreams,
)


def comparable(served: Served) -> Served:
    """
    C{served} without what may rightly differ between two splits of the
    same stream: Date values (the parallel model dates its answers by the
    wall clock, which may turn a second between two runs) and C{100
    Continue}, which is sent only when the body has not come with the head.
    """
    written = served.written.replace(b"HTTP/1.1 100 Continue\r\n\r\n", b"")
    return Served(re.sub(rb"Date: [^\r]*", b"Date: -", written), served.closing)


quick = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)


class SplitTests(SynchronousTestCase):
    @quick
    @given(st.data())
    def test_anySplitSameAnswers(self, data: st.DataObject) -> None:
        """
        However a valid pipelined stream is cut into chunks, and in either
        model, the answers are the same bytes as for the stream in one
        piece, and the oracle's.
        """
        stream = data.draw(validStreams)
        chunks = data.draw(splits(stream))
        how = data.draw(conditions())
        self.assertEqual(
            comparable(serve(chunks, how)), comparable(serve([stream], how))
        )
        checkInvariants(chunks, how)


class ArbitraryBytesTests(SynchronousTestCase):
    @quick
    @given(st.lists(st.binary(max_size=200), max_size=5), conditions())
    def test_arbitraryBytes(self, chunks: list[bytes], how: object) -> None:
        """
        Arbitrary bytes never raise out of the protocol, and end either in
        the answers the oracle expects or in one refusal and a close.
        """
        checkInvariants(chunks, how)  # type: ignore[arg-type]

    @quick
    @given(st.data())
    def test_mutatedRequests(self, data: st.DataObject) -> None:
        """
        Valid streams with hostile pieces spliced in keep the same
        invariants, however they are split and served.
        """
        stream = data.draw(mutatedStreams())
        checkInvariants(data.draw(splits(stream)), data.draw(conditions()))


class HTTP2Tests(SynchronousTestCase):
    @quick
    @given(st.lists(fieldLists(), max_size=6), frames(), st.binary(max_size=64))
    def test_anyFieldsAnyFrames(self, lists: list[list[tuple[bytes, bytes]]],
                                noise: bytes, tail: bytes) -> None:  # fmt: skip
        """
        Field lists that keep or break each rule of RFC 9113, then any
        frames: each malformed list's stream is reset and the others are
        answered, nothing is logged as an error, and a good request after
        it all is answered unless the frames ended the connection; then
        any bytes at all.
        """
        checkHTTP2(lists, noise, tail)
