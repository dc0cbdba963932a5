"""
Tests for L{hello_service.http.fieldlists}: the rules that make a request's
field list malformed, each shown by one list, and all of them agreeing with
h2's own checks (C{h2.utilities.validate_headers}) list by list, over every
list built from a table of fields that each break or keep one rule (at an
h2 before 4.4, less the two rules 4.4 changed).
"""

from __future__ import annotations

import itertools
import random

from h2.exceptions import ProtocolError
from h2.utilities import HeaderValidationFlags, validate_headers
from twisted.trial.unittest import SynchronousTestCase

from hello_service.http.fieldlists import (
    fieldMalformation,
    requestMalformation,
    trailerMalformation,
)

from .support.http2oracle import BEFORE_4_4, changedIn4_4

Fields = list[tuple[bytes, bytes]]

GOOD: Fields = [
    (b":method", b"GET"),
    (b":path", b"/"),
    (b":scheme", b"https"),
    (b":authority", b"example.org"),
    (b"user-agent", b"curl/8"),
]

#: Each rule, and a list that breaks only it.
BROKEN: dict[str, Fields] = {
    "upper-case name": [*GOOD, (b"User-Agent", b"x")],
    "space in a name": [*GOOD, (b"user agent", b"x")],
    "byte over 0x7f in a name": [*GOOD, (b"caf\xe9", b"x")],
    "colon inside a name": [*GOOD, (b"a:b", b"x")],
    "empty name": [*GOOD, (b"", b"x")],
    "NUL in a value": [*GOOD, (b"accept", b"a\x00b")],
    "LF in a value": [*GOOD, (b"accept", b"a\nb")],
    "CR in a value": [*GOOD, (b"accept", b"a\rb")],
    "space before a value": [*GOOD, (b"accept", b" a")],
    "tab after a value": [*GOOD, (b"accept", b"a\t")],
    "connection": [*GOOD, (b"connection", b"keep-alive")],
    "keep-alive": [*GOOD, (b"keep-alive", b"5")],
    "transfer-encoding": [*GOOD, (b"transfer-encoding", b"chunked")],
    "upgrade": [*GOOD, (b"upgrade", b"h2c")],
    "proxy-connection": [*GOOD, (b"proxy-connection", b"close")],
    "te other than trailers": [*GOOD, (b"te", b"gzip")],
    "pseudo after regular": [*GOOD[:4], (b"accept", b"*/*"), (b":path", b"/x")],
    "pseudo twice": [*GOOD[:2], (b":path", b"/x"), *GOOD[2:]],
    "unknown pseudo": [(b":colour", b"red"), *GOOD],
    ":status in a request": [(b":status", b"200"), *GOOD],
    "no :method": GOOD[1:],
    "no :path": [GOOD[0], *GOOD[2:]],
    "no :scheme": [*GOOD[:2], *GOOD[3:]],
    "empty :path": [GOOD[0], (b":path", b""), *GOOD[2:]],
    ":protocol without CONNECT": [(b":protocol", b"websocket"), *GOOD],
    "CONNECT with :path": [
        (b":method", b"CONNECT"),
        (b":path", b"/"),
        (b":authority", b"a:443"),
    ],  # fmt: skip
    "no :authority or host": GOOD[:3],
    "host twice": [*GOOD[:3], (b"host", b"a"), (b"host", b"a")],
    ":authority and host differ": [*GOOD, (b"host", b"other.org")],
}

#: Lists that keep every rule, some of them near one.
KEPT: dict[str, Fields] = {
    "plain": GOOD,
    "te: trailers, any case": [*GOOD, (b"te", b"Trailers")],
    "empty value": [*GOOD, (b"accept", b"")],
    "space and tab inside a value": [*GOOD, (b"accept", b"a \tb")],
    "host alone": [*GOOD[:3], (b"host", b"a")],
    "host as :authority": [*GOOD, (b"host", b"example.org")],
    "CONNECT": [(b":method", b"CONNECT"), (b":authority", b"a:443")],
    "extended CONNECT": [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        *GOOD[1:4],
    ],  # fmt: skip
    "name of punctuation": [*GOOD, (b"!#$%&'*+-.^_`|~", b"x")],
}


def h2Says(fields: Fields) -> bool:
    """
    Whether h2 finds C{fields} malformed, as a server reading a request.
    """
    flags = HeaderValidationFlags(
        is_client=False, is_trailer=False, is_response_header=False,
        is_push_promise=False,
    )  # fmt: skip
    try:
        list(validate_headers(fields, flags))
    except ProtocolError:
        return True
    return False


class RulesTests(SynchronousTestCase):
    def test_eachRuleBroken(self) -> None:
        """
        Each list that breaks one rule is malformed, with a reason.
        """
        for rule, fields in BROKEN.items():
            reason = requestMalformation(fields)
            self.assertIsNotNone(reason, rule)
            self.assertNotIn("\n", str(reason), rule)

    def test_kept(self) -> None:
        """
        The lists that keep every rule are requests.
        """
        for name, fields in KEPT.items():
            self.assertIsNone(requestMalformation(fields), name)

    def test_agreesWithH2(self) -> None:
        """
        Every list above, and a few thousand lists shuffled and combined
        from their fields, is malformed here exactly when h2 finds it so.
        """
        lists = [*BROKEN.values(), *KEPT.values()]
        pool = sorted({field for fields in lists for field in fields})
        chosen = random.Random(7)
        for _ in range(3000):
            picked = chosen.sample(pool, chosen.randint(1, 7))
            lists.append(picked)
            lists.append([*GOOD, *picked])
        for first, second in itertools.product(BROKEN.values(), KEPT.values()):
            lists.append([*second, *first[len(GOOD) :]])
        for fields in lists:
            if BEFORE_4_4 and changedIn4_4(fields):
                continue
            self.assertEqual(
                requestMalformation(fields) is not None, h2Says(fields), fields
            )

    def test_oneField(self) -> None:
        """
        A field is judged alone by its name and value.
        """
        self.assertIsNone(fieldMalformation(b"accept", b"*/*"))
        self.assertEqual(
            fieldMalformation(b"Accept", b"*/*"), "field name b'Accept' not allowed"
        )
        self.assertEqual(
            fieldMalformation(b"accept", b"*/* "), "value of b'accept' not allowed"
        )

    def test_trailers(self) -> None:
        """
        Trailers carry no pseudo-field, and their fields keep the same
        rules.
        """
        self.assertIsNone(trailerMalformation([(b"checksum", b"abc")]))
        self.assertEqual(
            trailerMalformation([(b":path", b"/")]), "pseudo-field b':path' in trailers"
        )
        self.assertIsNotNone(trailerMalformation([(b"Checksum", b"abc")]))
