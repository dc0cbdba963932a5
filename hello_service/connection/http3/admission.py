# -*- test-case-name: tests.test_http3 -*-
"""
Who may open a QUIC connection, free of I/O: the policy that keeps a
flood of Initial packets (most with forged source addresses) from costing
more than a bounded share of the server.

A client's first packet makes the server keep state for a handshake and
send up to three times what it received (RFC 9000 section 8.1) to an
address nobody has checked.  So:

  - B{Address validation by Retry} (RFC 9000 section 8.1.2): past
    L{HTTP3Settings.retryAbove<hello_service.connection.http3.settings.HTTP3Settings.retryAbove>} handshakes in progress (or always, with
    C{retryAbove=0}), an Initial without a token is answered with a Retry
    carrying a token, and no state is kept.  Only a client that receives
    at its address can send the token back.  Tokens are sealed with
    AES-GCM under a key every worker shares (L{RetryTokens}), so a token
    one worker issued opens a connection on any other, and they expire.
  - B{Retries per second} are capped (L{RetryBudget}): a forged flood is
    answered at a bounded rate, never amplified (a Retry is smaller than
    the Initial it answers).
  - B{Handshakes in progress} are capped (C{--http3} settings);
    past it, new Initials are dropped.

No Twisted, no aioquic.
"""

from __future__ import annotations

import ipaddress
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hello_service.connection.http2.defences import TokenBucket

#: How long a Retry token opens a connection for: a client sends it back at
#: once (RFC 9000 section 8.1.4).
TOKEN_LIFETIME = 10.0

_NONCE = 12
_ISSUED = struct.Struct(">d")


def _address(address: tuple[str, int]) -> bytes:
    host, port = address[0], address[1]
    return ipaddress.ip_address(host).packed + port.to_bytes(2, "big")


class RetryTokens:
    """
    Retry tokens: the client's address, the connection ID it first chose
    and the one the Retry gave it, and when, sealed with AES-GCM.
    """

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def issue(
        self,
        address: tuple[str, int],
        originalId: bytes,
        retryId: bytes,
        now: float,
    ) -> bytes:
        nonce = os.urandom(_NONCE)
        plain = (
            _ISSUED.pack(now)
            + bytes((len(originalId),))
            + originalId
            + bytes((len(retryId),))
            + retryId
        )
        return nonce + self._aead.encrypt(nonce, plain, _address(address))

    def open(
        self, token: bytes, address: tuple[str, int], destinationId: bytes, now: float
    ) -> bytes | None:
        """
        The connection ID the client first chose, if C{token} is one of
        ours, for this address, sent to the ID its Retry gave, and fresh;
        else C{None}.
        """
        try:
            plain = self._aead.decrypt(
                token[:_NONCE], token[_NONCE:], _address(address)
            )
        except (InvalidTag, ValueError):
            return None
        (issued,) = _ISSUED.unpack_from(plain)
        at = _ISSUED.size
        originalId = plain[at + 1 : at + 1 + plain[at]]
        at += 1 + plain[at]
        retryId = plain[at + 1 : at + 1 + plain[at]]
        if retryId != destinationId or not 0 <= now - issued <= TOKEN_LIFETIME:
            return None
        return originalId


class RetryBudget:
    """
    Retry packets sent per second, at most: a burst of one second's worth.
    """

    def __init__(self, perSecond: float, now: float) -> None:
        self._bucket = TokenBucket(perSecond, perSecond, now)

    def take(self, now: float) -> bool:
        return self._bucket.take(now)
