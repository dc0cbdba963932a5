# -*- test-case-name: tests.test_properties -*-
"""
Property-based tests of the request path with C{hypothesis}.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from .fuzzing import checkInvariants, mutatedStreams, serve, splits, validStreams

quick = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class SplitTests(SynchronousTestCase):
    @quick
    @given(st.data())
    def test_anySplitSameAnswers(self, data: st.DataObject) -> None:
        """
        However a valid pipelined stream is cut into chunks, the answers are
        the same bytes as for the stream in one piece.
        """
        stream = data.draw(validStreams)
        chunks = data.draw(splits(stream))
        self.assertEqual(serve(chunks), serve([stream]))


class ArbitraryBytesTests(SynchronousTestCase):
    @quick
    @given(st.lists(st.binary(max_size=200), max_size=5))
    def test_arbitraryBytes(self, chunks: list[bytes]) -> None:
        """
        Arbitrary bytes never raise out of the protocol, and end either in
        valid answers or in one refusal and a close.
        """
        checkInvariants(chunks)

    @quick
    @given(st.data())
    def test_mutatedRequests(self, data: st.DataObject) -> None:
        """
        Valid streams with hostile pieces spliced in keep the same
        invariants, however they are split.
        """
        stream = data.draw(mutatedStreams())
        checkInvariants(data.draw(splits(stream)))
