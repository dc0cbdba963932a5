# -*- test-case-name: tests.test_proxytrust -*-
"""
Who the client is: the address the access log names for each request.

A connection's peer is the client, unless it is a proxy we trust.  Two
ways of passing the client on are understood:

  - the PROXY protocol (v1 and v2), on C{haproxy:} endpoints: Twisted's
    wrapper reads the header before the first request, and the transport's
    peer is the client from then on (so the peer is read at the first
    bytes of a request, never when the connection is made);
  - the C{Forwarded} (RFC 7239) and C{X-Forwarded-For} request headers,
    believed only from the peers C{--forwarded-allow-ips} names
    (L{TrustedProxies}).  Each proxy appends the address it received the
    request from, so the client is the right-most address that is not a
    trusted proxy: the hops to its left were written by somebody we do not
    trust, the client among them, who could write anything there.

This module is free of Twisted: the peer itself is read from the transport
by L{hello_service.connection.peers}.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The request headers that carry the client on, by lower-case name.
FORWARDING_HEADERS = frozenset({b"forwarded", b"x-forwarded-for"})

#: How many distinct hosts a cache remembers before starting afresh.
CACHE_SIZE = 4096


def parseTrusted(value: str) -> tuple[Network, ...]:
    """
    The proxies C{--forwarded-allow-ips} names: addresses and CIDR ranges,
    separated by commas; C{*} for every peer.

    @raise ValueError: naming the entry that is neither.
    """
    networks: list[Network] = []
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            continue
        if entry == "*":
            networks += [
                ipaddress.ip_network("0.0.0.0/0"),
                ipaddress.ip_network("::/0"),
            ]
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def hopAddress(hop: str) -> Address | None:
    """
    The address of one hop of a forwarding header, or C{None} when it is
    not one (C{unknown}, an obfuscated C{_name}, garbage).  A port is
    dropped: C{192.0.2.1:8080}, C{"[2001:db8::1]:443"} and C{[2001:db8::1]}
    are addresses too.
    """
    hop = hop.strip().strip('"')
    if hop.startswith("["):
        hop = hop[1 : hop.find("]")] if "]" in hop else ""
    elif hop.count(":") == 1:
        hop = hop.partition(":")[0]
    try:
        return ipaddress.ip_address(hop)
    except ValueError:
        return None


def forwardedHops(value: bytes) -> list[str]:
    """
    The C{for=} hops of a C{Forwarded} header's elements, in order (the
    client first, the nearest proxy last).  An element with no C{for=}
    stands for a hop we cannot name: C{""}.
    """
    hops: list[str] = []
    for element in value.decode("latin-1").split(","):
        node = ""
        for pair in element.split(";"):
            name, equals, text = pair.partition("=")
            if equals and name.strip().lower() == "for":
                node = text.strip()
        hops.append(node)
    return hops


def forwardedForHops(value: bytes) -> list[str]:
    """
    The hops of an C{X-Forwarded-For} header, in order.
    """
    return [hop.strip() for hop in value.decode("latin-1").split(",")]


class TrustedProxies:
    """
    The peers whose forwarding headers are believed, and the rule that
    picks the client from them.  Trusting nobody (the default) leaves
    every client as its connection's peer.
    """

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks = tuple(networks)
        self._trusted: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, host: str) -> bool:
        """
        Whether C{host}, a peer's or a hop's address as text, is a proxy
        we trust.
        """
        trusted = self._trusted.get(host)
        if trusted is None:
            address = hopAddress(host)
            trusted = address is not None and any(
                address in network for network in self.networks
            )
            if len(self._trusted) >= CACHE_SIZE:
                self._trusted.clear()
            self._trusted[host] = trusted
        return trusted

    def clientOf(self, peer: str, forwarding: dict[bytes, bytes] | None) -> str:
        """
        The client of a request that came from C{peer} with these
        forwarding headers (L{FORWARDING_HEADERS}, by lower-case name; a
        C{Forwarded} header wins over C{X-Forwarded-For}, as the standard
        one): the right-most hop that is not a trusted proxy, or the
        left-most if all are.  A hop that is no address (C{unknown}, an
        obfuscated name) ends the walk and the client is the last trusted
        address: the access log names no one it cannot check.
        """
        if forwarding is None or not self.networks or not self.trusts(peer):
            return peer
        value = forwarding.get(b"forwarded")
        hops = (
            forwardedHops(value)
            if value is not None
            else forwardedForHops(forwarding[b"x-forwarded-for"])
        )
        client = peer
        for hop in reversed(hops):
            address = hopAddress(hop)
            if address is None:
                return client
            client = str(address)
            if not self.trusts(client):
                return client
        return client
