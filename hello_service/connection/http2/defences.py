# -*- test-case-name: tests.test_http2 -*-
"""
The bounds that keep one HTTP/2 connection from costing more than its
share, free of I/O: each abuse HTTP/2 has been attacked with is a count
here, and past its bound the connection ends in a GOAWAY with
C{ENHANCE_YOUR_CALM}.

  - Rapid reset (CVE-2023-44487): streams the client opens and cancels at
    once.  Their work is cancelled with them; their number is bounded by a
    token bucket (1,000, refilled at 33 a second: nghttp2's figures, which
    Twisted took).
  - Server-provoked resets ("MadeYouReset", CVE-2025-8671): streams the
    server resets because of what the client sent.  They count in the same
    bucket, and a stream's work counts against the stream limit until it
    is really done, whatever h2 thinks of the stream's state.
  - PING, SETTINGS and reset floods (CVE-2019-9512, 9514, 9515) and empty
    frames (CVE-2019-9518): control frames and empty DATA frames, 1,000 per
    10 s (gunicorn's figure).  And the connection stops reading while the
    client does not read what it is sent, so the answers to those frames
    cannot pile up unbounded.
  - HPACK bombs and CONTINUATION floods: bounded by h2 itself (the header
    list by C{SETTINGS_MAX_HEADER_LIST_SIZE}, 64 CONTINUATION frames); the
    connection turns h2's refusal into a GOAWAY.
  - Zero-window stalls: the write timeout, on any stream whose answer waits
    for the client's window.
"""

from __future__ import annotations

from dataclasses import dataclass


class TokenBucket:
    """
    At most C{burst} events at once, refilled at C{rate} a second: L{take}
    says whether one more is allowed at C{now}.
    """

    __slots__ = ("_burst", "_rate", "_tokens", "_since")

    def __init__(self, burst: float, rate: float, now: float) -> None:
        self._burst = burst
        self._rate = rate
        self._tokens = burst
        self._since = now

    def take(self, now: float, count: float = 1.0) -> bool:
        self._tokens = min(self._burst, self._tokens + (now - self._since) * self._rate)
        self._since = now
        if self._tokens < count:
            return False
        self._tokens -= count
        return True


class Defences:
    """
    One connection's budgets: resets (the client's and those it provoked)
    and control or empty frames.
    """

    __slots__ = ("_resets", "_frames")

    #: Resets: nghttp2's and Twisted's figures.
    RESET_BURST = 1000.0
    RESET_RATE = 33.0
    #: Control and empty frames: gunicorn's 1,000 per 10 s.
    FRAME_BURST = 1000.0
    FRAME_RATE = 100.0

    def __init__(self, now: float) -> None:
        self._resets = TokenBucket(self.RESET_BURST, self.RESET_RATE, now)
        self._frames = TokenBucket(self.FRAME_BURST, self.FRAME_RATE, now)

    def reset(self, now: float) -> bool:
        """
        A stream was reset, by the client or because of it: whether the
        connection may go on.
        """
        return self._resets.take(now)

    def frame(self, now: float) -> bool:
        """
        A control frame (PING, SETTINGS, PRIORITY, a reset) or an empty DATA
        frame arrived: whether the connection may go on.
        """
        return self._frames.take(now)


@dataclass(frozen=True)
class HTTP2Settings:
    """
    How HTTP/2 is served: the streams a connection may have open at once
    (advertised in SETTINGS; one more is refused with C{REFUSED_STREAM}),
    and the largest header list, as RFC 7541 counts it.
    """

    maxConcurrentStreams: int = 100
    maxHeaderListSize: int = 16 * 1024


HTTP2_DEFAULTS = HTTP2Settings()
