# -*- test-case-name: tests.test_proxytrust -*-
"""
The other end of a connection, as the access log names it: its host, read
from the transport once a request begins (so that a PROXY header has
already named the client).  Which peer's forwarding headers to believe is
L{hello_service.http.proxytrust}' business.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.internet.tcp import Server as TCP_SERVER

from hello_service.http.proxytrust import CACHE_SIZE

#: A peer with no host (a UNIX socket's), as the access log writes it.
NO_HOST = "-"


class PeerNames:
    """
    The access log's name for each connection's peer: its host, one string
    per host shared by all its connections (a server with many connections
    from few proxies keeps few strings).
    """

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def of(self, transport: Any) -> str:
        """
        The peer of C{transport} as the access log names it: read when a
        request begins, so that a PROXY header is already applied.

        A plain TCP transport's peer is read from the address it keeps
        (C{client}, as C{accept} gave it), Twisted's and hello's
        (L{hello_service.connection.transport.HelloServer}, a subclass) alike:
        Twisted's C{getPeer} makes an address object per call, a tenth of
        what hello itself spends on a one-request connection.  Any other
        transport (a PROXY or TLS wrapper, a UNIX socket) is asked.
        """
        host: str
        if isinstance(transport, TCP_SERVER):
            client: Any = transport.client
            host = client[0]
        else:
            host = str(getattr(transport.getPeer(), "host", None) or NO_HOST)
        names = self._names
        name = names.get(host)
        if name is None:
            if len(names) >= CACHE_SIZE:
                names.clear()
            name = names[host] = _canonical(host)
        return name


def _canonical(host: str) -> str:
    """
    An IPv6 host in its shortest form (Twisted's PROXY v2 parser writes
    every group out: C{2001:db8:0:0:0:0:0:7}); any other host as it is.
    """
    if ":" not in host:
        return host
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host
