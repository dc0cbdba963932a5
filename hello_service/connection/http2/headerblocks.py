# -*- test-case-name: tests.test_headerblocks,tests.test_http2 -*-
"""
HPACK header blocks done once: hello's answers' blocks encoded once for the
process, and a client's repeated request block decoded once while its
table stands.

hello answers with a handful of header lists that differ only in their
C{date} (once a second) and a few validators.  Encoded with references to
the static table and literals without indexing (RFC 7541 sections 6.1 and
6.2.2), a block leaves the client's dynamic table as it was, so the same
bytes are right for every stream of every connection: L{AnswerEncoder}
keeps them, by the answer's head, in one bounded table for the process.

One rule holds it to HPACK: after a peer changes C{SETTINGS_HEADER_TABLE_SIZE}
the next block must open with a dynamic table size update (RFC 7541
section 4.2, RFC 9113 section 4.3.1).  Until that block is sent, the
encoder is hpack's own, which writes the update; the kept blocks are right
again after it, as they never referred to the dynamic table.

A client repeats itself too: once its fields are in the dynamic table, each
request's block is the same few indexes.  L{RequestDecoder} keeps what a
block decoded to, and gives it again for the same bytes while the table is
as it was; a block that changed the table (a literal with indexing, a size
update) is decoded every time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpack import Decoder, Encoder
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable

#: The static table (RFC 7541 appendix A): whole fields, and each name's
#: first index.
_STATIC_FIELDS = {
    field: index for index, field in enumerate(HeaderTable.STATIC_TABLE, 1)
}
_STATIC_NAMES: dict[bytes, int] = {}
for _index, (_name, _) in enumerate(HeaderTable.STATIC_TABLE, 1):
    _STATIC_NAMES.setdefault(_name, _index)

_HUFFMAN = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)

#: How many blocks the process keeps: a few answers a second, each a block
#: per second (its date), so the table is emptied now and then rather than
#: kept in order.
KEPT_BLOCKS = 256


def _integer(value: int, prefixBits: int, first: int) -> bytes:
    """
    C{value} as an HPACK integer with an C{prefixBits}-bit prefix (RFC 7541
    section 5.1), its first byte's other bits C{first}.
    """
    limit = (1 << prefixBits) - 1
    if value < limit:
        return bytes((first | value,))
    encoded = [first | limit]
    value -= limit
    while value >= 128:
        encoded.append((value & 0x7F) | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)


def _string(value: bytes) -> bytes:
    """
    A string literal (RFC 7541 section 5.2): Huffman-coded where that is
    shorter.
    """
    coded = _HUFFMAN.encode(value)
    if len(coded) < len(value):
        return _integer(len(coded), 7, 0x80) + coded
    return _integer(len(value), 7, 0x00) + value


def encodeBlock(fields: Iterable[tuple[bytes, bytes]]) -> bytes:
    """
    The header block of C{fields}, touching no dynamic table: a whole field
    of the static table by its index (section 6.1), any other as a literal
    without indexing, its name by static index where it has one (section
    6.2.2).
    """
    block = []
    for name, value in fields:
        whole = _STATIC_FIELDS.get((name, value))
        if whole is not None:
            block.append(_integer(whole, 7, 0x80))
            continue
        index = _STATIC_NAMES.get(name)
        if index is not None:
            block.append(_integer(index, 4, 0x00) + _string(value))
        else:
            block.append(b"\x00" + _string(name) + _string(value))
    return b"".join(block)


#: The blocks kept, by the fields they encode.
_blocks: dict[tuple[tuple[bytes, bytes], ...], bytes] = {}


class AnswerEncoder(Encoder):
    """
    hpack's encoder for one connection, whose blocks are L{encodeBlock}'s,
    kept for the process, except for the block that must carry a dynamic
    table size update.
    """

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        if self.header_table.resized:
            return super().encode(headers, huffman)
        key = tuple(headers)
        block = _blocks.get(key)
        if block is None:
            if len(_blocks) >= KEPT_BLOCKS:
                _blocks.clear()
            block = _blocks[key] = encodeBlock(key)
        return block


class _CountedTable(HeaderTable):
    """
    A decoder's dynamic table that counts its changes: an entry added, or
    its size changed (which may evict).
    """

    changes = 0

    def add(self, name: bytes, value: bytes) -> None:
        self.changes += 1
        super().add(name, value)

    @HeaderTable.maxsize.setter  # type: ignore[attr-defined, untyped-decorator]
    def maxsize(self, newmax: int) -> None:
        self.changes += 1
        HeaderTable.maxsize.fset(self, newmax)  # type: ignore[attr-defined]


#: How many distinct blocks one connection's decoder keeps: a client sends
#: one or two kinds of request.
KEPT_REQUEST_BLOCKS = 8


class RequestDecoder(Decoder):
    """
    hpack's decoder for one connection, which decodes a block again only if
    the table changed since it last decoded those bytes.
    """

    def __init__(self, max_header_list_size: int) -> None:
        super().__init__(max_header_list_size)
        self.header_table = self._table = _CountedTable()
        self.max_allowed_table_size = self._table.maxsize
        #: By block: the table's changes when it was decoded, and its fields.
        self._decoded: dict[bytes, tuple[int, list[Any]]] = {}

    def decode(self, data: bytes, raw: bool = False) -> Any:
        before = self._table.changes
        kept = self._decoded.get(data)
        if kept is not None and kept[0] == before and raw:
            return list(kept[1])
        fields = super().decode(data, raw)
        if self._table.changes == before and raw:
            if len(self._decoded) >= KEPT_REQUEST_BLOCKS:
                self._decoded.clear()
            self._decoded[data] = (before, list(fields))
        return fields
