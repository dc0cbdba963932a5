# -*- test-case-name: tests.test_http3 -*-
"""
How HTTP/3 is served, as the options ask: plain data, which the
configuration carries to every worker.  Importing it imports neither
aioquic nor cryptography, which only C{--http3} needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class HTTP3Settings:
    """
    How HTTP/3 is served (C{--http3}).

    @ivar retryAbove: handshakes in progress past which a new client must
        prove its address with a Retry first (0: every client, always).
    @ivar maxHandshakes: handshakes in progress at most; more are dropped.
    @ivar retriesPerSecond: Retry packets sent per second at most.
    @ivar connectionWindow: how far the client may send ahead on one
        connection, in bytes (a stream's window is the largest body read).
    @ivar altSvcMaxAge: how long a client may remember that HTTP/3 is
        served here (C{Alt-Svc}'s C{ma}), in seconds.
    @ivar retryKey: the key Retry tokens are sealed with, hex: one for all
        the workers of a service.
    """

    retryAbove: int = 64
    maxHandshakes: int = 1024
    retriesPerSecond: float = 2000.0
    connectionWindow: int = 1024 * 1024
    altSvcMaxAge: int = 86400
    retryKey: str = ""

    @classmethod
    def withNewKey(cls, **settings: object) -> HTTP3Settings:
        """The settings, with a fresh Retry key."""
        return cls(retryKey=os.urandom(16).hex(), **settings)  # type: ignore[arg-type]
