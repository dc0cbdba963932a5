# -*- test-case-name: tests.test_fieldlists -*-
"""
When a request's field list, as HTTP/2 and HTTP/3 carry it (name and value
pairs, pseudo-fields first), is malformed: RFC 9113 section 8.2 and 8.3,
which RFC 9114 section 4.2 and 4.3 repeat for HTTP/3.

A malformed request is a stream error of type PROTOCOL_ERROR: the stream
is reset, the connection and its other streams go on.  h2 can check these
rules itself, on every stream; hello checks them here instead, once for
each distinct field list (L{hello_service.http.fieldsections}), and
the same way at every version of h2 it declares.  The rules are h2's own,
which C{tests.test_fieldlists} checks field list by field list against
C{h2.utilities.validate_headers}.

No Twisted, no h2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Fields that are about one connection, which HTTP/2 and HTTP/3 forbid
#: (RFC 9113 section 8.2.2).
CONNECTION_SPECIFIC = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
    }
)

#: The pseudo-fields a request may carry (C{:protocol} only with CONNECT,
#: RFC 8441).
REQUEST_PSEUDO = frozenset(
    {b":method", b":scheme", b":authority", b":path", b":protocol"}
)

#: A field name: no control character, space, upper-case letter, DEL or byte
#: over 0x7f, and no colon but a pseudo-field's first (RFC 9113 section
#: 8.2.1).
_NAME = re.compile(rb":?[\x21-\x39\x3b-\x40\x5b-\x7e]+")

#: A field value: no NUL, CR or LF, and no space or tab at either end.
_VALUE = re.compile(rb"(?:[^\x00\n\r\t ](?:[^\x00\n\r]*[^\x00\n\r\t ])?)?")


def fieldMalformation(name: bytes, value: bytes) -> str | None:
    """
    Why one field is malformed wherever it appears, or C{None}.
    """
    if _NAME.fullmatch(name) is None:
        return f"field name {name[:64]!r} not allowed"
    if _VALUE.fullmatch(value) is None:
        return f"value of {name[:64]!r} not allowed"
    if name in CONNECTION_SPECIFIC:
        return f"connection-specific field {name!r}"
    if name == b"te" and value.lower() != b"trailers":
        return "te other than trailers"
    return None


def requestMalformation(fields: Iterable[tuple[bytes, bytes]]) -> str | None:
    """
    Why a request's field list is malformed, or C{None} if it is not.
    """
    seen: set[bytes] = set()
    regular = False
    method = authority = host = None
    for name, value in fields:
        reason = fieldMalformation(name, value)
        if reason is not None:
            return reason
        if name[0] == 0x3A:  # ":"
            if regular:
                return f"pseudo-field {name!r} after a regular field"
            if name in seen:
                return f"pseudo-field {name!r} twice"
            if name not in REQUEST_PSEUDO:
                return f"pseudo-field {name!r} not of a request"
            seen.add(name)
            if name == b":method":
                method = value
            elif name == b":authority":
                authority = value
            elif name == b":path" and not value:
                return "empty :path"
        else:
            regular = True
            if name == b"host":
                if host is not None:
                    return "host twice"
                host = value
    if method is None:
        return "no :method"
    if method == b"CONNECT" and b":protocol" not in seen:
        if b":scheme" in seen or b":path" in seen:
            return "CONNECT with :scheme or :path"
    else:
        if b":scheme" not in seen or b":path" not in seen:
            return "no :scheme or :path"
        if b":protocol" in seen and method != b"CONNECT":
            return ":protocol without CONNECT"
    if authority is None and host is None:
        return "no :authority or host"
    if authority is not None and host is not None and authority != host:
        return ":authority and host differ"
    return None


def trailerMalformation(fields: Iterable[tuple[bytes, bytes]]) -> str | None:
    """
    Why a request's trailer section is malformed (a pseudo-field, or a
    field malformed anywhere), or C{None}.
    """
    for name, value in fields:
        reason = fieldMalformation(name, value)
        if reason is not None:
            return reason
        if name[0] == 0x3A:
            return f"pseudo-field {name!r} in trailers"
    return None
