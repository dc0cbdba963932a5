# -*- test-case-name: tests.test_proxytrust -*-
"""
Who the access log names as the client: the peer, the source of a PROXY
header, or (from a trusted proxy only) the right-most untrusted hop of the
forwarding headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet import tcp
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.protocols.haproxy._wrapper import HAProxyWrappingFactory
from twisted.trial.unittest import SynchronousTestCase

from hello_service.connection.peers import PeerNames
from hello_service.connection.protocol import HelloFactory
from hello_service.connection.transport import HelloServer
from hello_service.http.proxytrust import (
    TrustedProxies,
    forwardedForHops,
    forwardedHops,
    hopAddress,
    parseTrusted,
)

from .support.builders import get, makeFactory

PROXY = IPv4Address("TCP", "10.0.0.5", 50000)
STRANGER = IPv4Address("TCP", "198.51.100.9", 50000)


def trusting(*entries: str) -> TrustedProxies:
    return TrustedProxies(parseTrusted(",".join(entries)))


class ParseTrustedTests(SynchronousTestCase):
    def test_addressesAndRanges(self) -> None:
        """
        Addresses, CIDR ranges (host bits allowed) and IPv6, separated by
        commas with spaces allowed; empty entries ignored.
        """
        self.assertEqual(
            [str(n) for n in parseTrusted("127.0.0.1, 10.1.2.3/8,,::1")],
            ["127.0.0.1/32", "10.0.0.0/8", "::1/128"],
        )

    def test_everyone(self) -> None:
        self.assertEqual([str(n) for n in parseTrusted("*")], ["0.0.0.0/0", "::/0"])

    def test_nobody(self) -> None:
        self.assertEqual(parseTrusted(""), ())
        self.assertFalse(TrustedProxies())
        self.assertTrue(trusting("::1"))

    def test_garbage(self) -> None:
        """
        The message names the entry that is wrong.
        """
        with self.assertRaises(ValueError) as caught:
            parseTrusted("10.0.0.1,proxy.example")
        self.assertEqual(
            str(caught.exception), "'proxy.example' is not an IP address or CIDR range"
        )


class HopTests(SynchronousTestCase):
    def test_addresses(self) -> None:
        for hop, address in [
            ("192.0.2.1", "192.0.2.1"),
            (" 192.0.2.1:8080 ", "192.0.2.1"),
            ('"[2001:db8::1]:443"', "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
        ]:
            self.assertEqual(str(hopAddress(hop)), address, hop)

    def test_notAddresses(self) -> None:
        for hop in ["unknown", "_hidden", "", "[2001:db8::1", "300.1.1.1", "a:b"]:
            self.assertIsNone(hopAddress(hop), hop)

    def test_forwardedElements(self) -> None:
        """
        Each element's C{for=} in order, whatever its other parameters and
        the name's case; an element without one is an unnamed hop.
        """
        self.assertEqual(
            forwardedHops(
                b"for=192.0.2.60;proto=http;by=203.0.113.43, "
                b'For="[2001:db8:cafe::17]:4711", proto=https'
            ),
            ["192.0.2.60", '"[2001:db8:cafe::17]:4711"', ""],
        )

    def test_forwardedForList(self) -> None:
        self.assertEqual(
            forwardedForHops(b"203.0.113.7, 10.0.0.2,10.0.0.3"),
            ["203.0.113.7", "10.0.0.2", "10.0.0.3"],
        )


class ClientOfTests(SynchronousTestCase):
    """
    The client is the right-most hop that is not a trusted proxy.
    """

    def test_untrustedPeer(self) -> None:
        """
        From a peer we do not trust, the headers change nothing: a client
        cannot choose the address it is logged as.
        """
        trusted = trusting("10.0.0.0/8")
        headers = {b"x-forwarded-for": b"203.0.113.7"}
        self.assertEqual(trusted.clientOf("198.51.100.9", headers), "198.51.100.9")
        self.assertEqual(TrustedProxies().clientOf("10.0.0.5", headers), "10.0.0.5")

    def test_noHeaders(self) -> None:
        self.assertEqual(trusting("10.0.0.0/8").clientOf("10.0.0.5", None), "10.0.0.5")

    def test_rightMostUntrusted(self) -> None:
        """
        A spoofed left-most hop (written by the client itself) is not
        believed: the proxy's own hop, to its right, names the client.
        """
        trusted = trusting("10.0.0.0/8")
        self.assertEqual(
            trusted.clientOf(
                "10.0.0.5", {b"x-forwarded-for": b"1.2.3.4, 203.0.113.7, 10.0.0.2"}
            ),
            "203.0.113.7",
        )

    def test_allTrusted(self) -> None:
        """
        When every hop is a trusted proxy, the left-most is the client.
        """
        trusted = trusting("*")
        self.assertEqual(
            trusted.clientOf("10.0.0.5", {b"x-forwarded-for": b"1.2.3.4, 10.0.0.2"}),
            "1.2.3.4",
        )

    def test_forwardedWins(self) -> None:
        """
        C{Forwarded}, the standard header, wins over C{X-Forwarded-For};
        an IPv6 hop is logged without brackets or port.
        """
        trusted = trusting("10.0.0.0/8")
        headers = {
            b"forwarded": b'for="[2001:db8::7]:4711"',
            b"x-forwarded-for": b"203.0.113.7",
        }
        self.assertEqual(trusted.clientOf("10.0.0.5", headers), "2001:db8::7")

    def test_unnamedHop(self) -> None:
        """
        A hop that is no address ends the walk: the client is the last
        address checked, the trusted proxy that received the request.
        """
        trusted = trusting("10.0.0.0/8")
        for value in [b"unknown, 10.0.0.2", b"203.0.113.7, garbage", b""]:
            self.assertEqual(
                trusted.clientOf("10.0.0.5", {b"x-forwarded-for": value}),
                "10.0.0.5" if value != b"unknown, 10.0.0.2" else "10.0.0.2",
                value,
            )

    def test_trustRemembered(self) -> None:
        """
        Each host's trust is worked out once, and the memory is bounded.
        """
        trusted = trusting("10.0.0.0/8")
        self.assertTrue(trusted.trusts("10.9.9.9"))
        self.assertFalse(trusted.trusts("11.0.0.1"))
        self.assertEqual(trusted._trusted, {"10.9.9.9": True, "11.0.0.1": False})
        for n in range(5000):
            trusted.trusts(f"10.0.{n // 256}.{n % 256}")
        self.assertLessEqual(len(trusted._trusted), 4096)


class PeerNamesTests(SynchronousTestCase):
    def test_sharedPerHost(self) -> None:
        names = PeerNames()
        first = names.of(StringTransport(peerAddress=PROXY))
        second = names.of(
            StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.5", 1))
        )
        self.assertEqual(first, "10.0.0.5")
        self.assertIs(first, second)
        self.assertEqual(
            names.of(StringTransport(peerAddress=IPv6Address("TCP", "::1", 1))), "::1"
        )
        self.assertEqual(
            names.of(StringTransport(peerAddress=UNIXAddress(b"/run/x"))), "-"
        )

    def test_plainTCPReadFromTheAddressKept(self) -> None:
        """
        A plain TCP transport, Twisted's or hello's, is named from the
        address C{accept} gave it, without an address object made for it.
        """

        def unasked() -> None:
            raise AssertionError("getPeer was called")

        for kind in (tcp.Server, HelloServer):
            transport = kind.__new__(kind)
            transport.client = ("192.0.2.9", 4321)
            transport.getPeer = unasked  # type: ignore[method-assign,assignment]
            self.assertEqual(PeerNames().of(transport), "192.0.2.9")

    def test_bounded(self) -> None:
        names = PeerNames()
        for n in range(5000):
            names.of(
                StringTransport(
                    peerAddress=IPv4Address("TCP", f"10.0.{n // 256}.{n % 256}", 1)
                )
            )
        self.assertLessEqual(len(names._names), 4096)


def clientsLogged(
    factory: HelloFactory, peer: IPv4Address, *chunks: bytes
) -> list[str]:
    """
    The client of each access line of one connection from C{peer} that
    sends C{chunks}.
    """
    protocol = factory.buildProtocol(peer)
    transport = StringTransport(peerAddress=peer)
    with capturedLogs() as events:
        protocol.makeConnection(transport)
        for chunk in chunks:
            protocol.dataReceived(chunk)
        factory.clock.advance(1)  # type: ignore[attr-defined]
    return loggedClients(events)


def loggedClients(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """
    The client (first field) of each access line among C{events}.
    """
    lines: list[str] = []
    for event in events:
        if event["log_namespace"] == "hello_service.access":
            lines += formatEvent(event).split("\n")
    return [line.split(" ", 1)[0] for line in lines]


class LoggedClientTests(SynchronousTestCase):
    """
    The access log names the client as the rules above pick it, for each
    request of a connection.
    """

    def test_trustedForwarding(self) -> None:
        factory = makeFactory(Clock(), trustedProxies=trusting("10.0.0.0/8"))
        self.assertEqual(
            clientsLogged(
                factory,
                PROXY,
                get(extra=b"X-Forwarded-For: 1.2.3.4, 203.0.113.7\r\n")
                + get(extra=b"Forwarded: for=198.51.100.1\r\n")
                + get(),
            ),
            ["203.0.113.7", "198.51.100.1", "10.0.0.5"],
        )

    def test_untrustedForwarding(self) -> None:
        factory = makeFactory(Clock(), trustedProxies=trusting("10.0.0.0/8"))
        self.assertEqual(
            clientsLogged(
                factory, STRANGER, get(extra=b"X-Forwarded-For: 203.0.113.7\r\n")
            ),
            ["198.51.100.9"],
        )

    def test_defaultTrustsNobody(self) -> None:
        self.assertEqual(
            clientsLogged(
                makeFactory(Clock()),
                PROXY,
                get(extra=b"X-Forwarded-For: 203.0.113.7\r\n"),
            ),
            ["10.0.0.5"],
        )

    def test_headerLinesJoined(self) -> None:
        """
        Two X-Forwarded-For lines are one list, in order.
        """
        factory = makeFactory(Clock(), trustedProxies=trusting("10.0.0.0/8"))
        self.assertEqual(
            clientsLogged(
                factory,
                PROXY,
                get(
                    extra=b"X-Forwarded-For: 203.0.113.7\r\n"
                    b"X-Forwarded-For: 10.0.0.9\r\n"
                ),
            ),
            ["203.0.113.7"],
        )


class ProxyProtocolTests(SynchronousTestCase):
    """
    Behind Twisted's PROXY-protocol wrapper (a C{haproxy:} endpoint), the
    access log names the header's source, read once the header is in.
    """

    def exchange(self, *chunks: bytes) -> tuple[list[str], StringTransport]:
        clock = Clock()
        hello = makeFactory(clock)
        wrapper = HAProxyWrappingFactory(hello).buildProtocol(PROXY)
        transport = StringTransport(peerAddress=PROXY)
        with capturedLogs() as events:
            wrapper.makeConnection(transport)
            for chunk in chunks:
                wrapper.dataReceived(chunk)
            clock.advance(1)
        return loggedClients(events), transport

    def test_v1(self) -> None:
        clients, transport = self.exchange(
            b"PROXY TCP4 203.0.113.7 127.0.0.1 5000 7878\r\n" + get() + get()
        )
        self.assertEqual(clients, ["203.0.113.7", "203.0.113.7"])
        self.assertIn(b"200 OK", transport.value())

    def test_v1InPieces(self) -> None:
        """
        A header split across reads, and the request after it.
        """
        clients, _ = self.exchange(
            b"PROXY TCP6 2001:db8::7 ",
            b"::1 5000 7878\r\nGET / HT",
            b"TP/1.1\r\nHost: x\r\n\r\n",
        )
        self.assertEqual(clients, ["2001:db8::7"])

    def test_v2(self) -> None:
        header = (
            b"\r\n\r\n\x00\r\nQUIT\n"  # the signature
            b"\x21\x11\x00\x0c"  # v2 PROXY, TCP over IPv4, 12 bytes
            + bytes([203, 0, 113, 7, 127, 0, 0, 1])
            + (5000).to_bytes(2, "big")
            + (7878).to_bytes(2, "big")
        )
        clients, _ = self.exchange(header + get())
        self.assertEqual(clients, ["203.0.113.7"])

    def test_malformed(self) -> None:
        """
        A malformed header closes the connection: nothing answered, nothing
        logged.
        """
        for header in [
            b"PROXY TCP4 nonsense\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ]:
            clients, transport = self.exchange(header + get())
            self.assertEqual((clients, transport.value()), ([], b""), header)
            self.assertTrue(transport.disconnecting)
