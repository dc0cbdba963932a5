# -*- test-case-name: tests.test_caching -*-
"""
The validators of a page: what a cache compares its stored copy with.
"""

from __future__ import annotations

from hashlib import blake2b

from hello_service.http.dates import httpDate


class Validators:
    """
    A page's entity tag and modification time, and the header lines that
    send them with the freshness the service gives pages.

    The entity tag is strong and made from the page's bytes, so it changes
    whenever the bytes do, in either concurrency model.

    @ivar etag: the strong entity tag, quotes included.
    @ivar lastModified: the modification time, in whole seconds.
    @ivar headers: C{ETag}, C{Last-Modified}, C{Cache-Control} and
        C{Accept-Ranges} lines, as a 200, 206 or 304 for the page sends them.
    """

    __slots__ = ("etag", "lastModified", "headers")

    def __init__(self, body: bytes, modified: float, cacheControl: bytes) -> None:
        self.etag = b'"' + blake2b(body, digest_size=10).hexdigest().encode() + b'"'
        self.lastModified = int(modified)
        self.headers = (
            b"ETag: %s\r\nLast-Modified: %s\r\nCache-Control: %s\r\n"
            b"Accept-Ranges: bytes\r\n"
            % (self.etag, httpDate(self.lastModified), cacheControl)
        )
