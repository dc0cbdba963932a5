"""
L{hello_service.connection.http2.headerblocks}: an answer's header block
encoded once, decoded by any HPACK decoder to the same fields, and never
touching the client's dynamic table.
"""

from __future__ import annotations

from hpack import Decoder, Encoder, HPACKDecodingError
from twisted.trial.unittest import SynchronousTestCase

from hello_service.connection.http2 import headerblocks
from hello_service.connection.http2.headerblocks import (
    AnswerEncoder,
    RequestDecoder,
    encodeBlock,
)

FIELDS = [
    (b":status", b"200"),
    (b"server", b"hello_service"),
    (b"date", b"Sat, 05 Dec 2026 11:02:33 GMT"),
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", b"179"),
    (b"etag", b'"5f3a-b3"'),
    (b"cache-control", b"max-age=60"),
    (b"x-not-in-the-static-table", b"a value longer than its prefix allows" * 4),
]


class EncodeBlockTests(SynchronousTestCase):
    def test_decodesToTheSameFields(self) -> None:
        """
        A block decodes to its fields, in order, and leaves the decoder's
        dynamic table empty; a field of the static table is one byte.
        """
        decoder = Decoder()
        block = encodeBlock(FIELDS)
        self.assertEqual(decoder.decode(block, raw=True), FIELDS)
        self.assertEqual(len(decoder.header_table.dynamic_entries), 0)
        self.assertEqual(encodeBlock([(b":status", b"200")]), b"\x88")
        self.assertEqual(encodeBlock([(b":status", b"404")]), b"\x8d")

    def test_nameIndexPastItsPrefix(self) -> None:
        """
        A name whose static index needs more than the 4-bit prefix
        (C{www-authenticate}, 61) and a literal name both decode.
        """
        fields = [(b"www-authenticate", b"x"), (b"x-literal", b"y")]
        block = encodeBlock(fields)
        self.assertEqual(block[:2], b"\x0f\x2e")  # 15, then 61 - 15 = 46
        self.assertEqual(Decoder().decode(block, raw=True), fields)


class AnswerEncoderTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.patch(headerblocks, "_blocks", {})

    def test_keptForEveryConnection(self) -> None:
        """
        The same fields give the very same block, from any connection's
        encoder, and a decoder that sees it many times decodes it each time.
        """
        one, other = AnswerEncoder(), AnswerEncoder()
        block = one.encode(FIELDS)
        self.assertIs(other.encode(list(FIELDS)), block)
        decoder = Decoder()
        for _ in range(3):
            self.assertEqual(decoder.decode(one.encode(FIELDS), raw=True), FIELDS)

    def test_tableSizeUpdateFirst(self) -> None:
        """
        After the peer changes its table size, the next block opens with
        the size update (a decoder that saw the change requires it), then
        the kept blocks follow again.
        """
        encoder = AnswerEncoder()
        kept = encoder.encode(FIELDS)
        decoder = Decoder()
        decoder.max_allowed_table_size = 256
        encoder.header_table_size = 256
        updated = encoder.encode(FIELDS)
        self.assertEqual(updated[0] & 0xE0, 0x20)  # 001xxxxx: a size update
        self.assertEqual(decoder.decode(updated, raw=True), FIELDS)
        self.assertIs(encoder.encode(FIELDS), kept)
        self.assertEqual(decoder.decode(kept, raw=True), FIELDS)

    def test_bounded(self) -> None:
        """
        The process keeps at most L{headerblocks.KEPT_BLOCKS} blocks.
        """
        encoder = AnswerEncoder()
        for second in range(headerblocks.KEPT_BLOCKS * 2 + 1):
            encoder.encode([(b":status", b"200"), (b"date", str(second).encode())])
            self.assertLessEqual(len(headerblocks._blocks), headerblocks.KEPT_BLOCKS)


class RequestDecoderTests(SynchronousTestCase):
    def test_repeatedBlockKept(self) -> None:
        """
        A block made only of indexes decodes once while the table stands:
        the second time, hpack's decoder is not asked.
        """
        encoder = Encoder()
        decoder = RequestDecoder(65536)
        fields = [(b":method", b"GET"), (b"user-agent", b"h2load")]
        decoder.decode(encoder.encode(fields), raw=True)  # fills the table
        repeated = encoder.encode(fields)
        self.assertEqual(decoder.decode(repeated, raw=True), fields)
        asked = []
        self.patch(Decoder, "decode", lambda *a, **k: asked.append(a) or [])
        self.assertEqual(decoder.decode(repeated, raw=True), fields)
        self.assertEqual(asked, [])

    def test_changedTableDecodesAgain(self) -> None:
        """
        Once another block added to the table, the same bytes name other
        entries, and are decoded again to what they now mean.
        """
        encoder = Encoder()
        decoder = RequestDecoder(65536)
        decoder.decode(encoder.encode([(b"x-a", b"1")]), raw=True)
        index = encoder.encode([(b"x-a", b"1")])
        self.assertEqual(index, b"\xbe")  # the first dynamic entry, 62
        self.assertEqual(decoder.decode(index, raw=True), [(b"x-a", b"1")])
        decoder.decode(encoder.encode([(b"x-b", b"2")]), raw=True)
        self.assertEqual(decoder.decode(b"\xbe", raw=True), [(b"x-b", b"2")])
        decoder.header_table_size = 0  # a size update empties the table
        with self.assertRaises(HPACKDecodingError):
            decoder.decode(b"\xbe", raw=True)

    def test_blockThatIndexesIsNeverKept(self) -> None:
        """
        A block that adds to the table is decoded every time it comes (each
        time it adds again), as hpack's own decoder would.
        """
        decoder = RequestDecoder(65536)
        adding = Encoder().encode([(b"x-a", b"1")])
        for count in (1, 2):
            self.assertEqual(decoder.decode(adding, raw=True), [(b"x-a", b"1")])
            self.assertEqual(len(decoder.header_table.dynamic_entries), count)
