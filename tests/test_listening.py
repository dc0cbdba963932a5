"""
Tests for L{hello_service.listening} in memory: how addresses are named and
read from Twisted's endpoints.  Binding real sockets for workers is tested
in C{tests.system.test_workers}.
"""

from __future__ import annotations

from twisted.internet.endpoints import serverFromString
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from hello_service.listening import formatAddress, tcpEndpointAddress


class ListeningAddressTests(SynchronousTestCase):
    def test_tcpEndpointAddress(self) -> None:
        """
        The interface, port and backlog of a tcp endpoint are read from
        Twisted's private attributes; this fails loudly if a release renames
        them.
        """
        reactor = MemoryReactor()
        self.assertEqual(
            tcpEndpointAddress(
                serverFromString(reactor, "tcp:8080:interface=127.0.0.1:backlog=7")
            ),
            ("127.0.0.1", 8080, 7),
        )
        self.assertEqual(
            tcpEndpointAddress(serverFromString(reactor, "tcp6:8081")), ("::", 8081, 50)
        )
        self.assertIsNone(tcpEndpointAddress(serverFromString(reactor, "unix:/x")))

    def test_describedAsOperatorsReadThem(self) -> None:
        """
        Addresses are named by the kind of endpoint and the address bound,
        with brackets around IPv6 hosts.
        """
        self.assertEqual(formatAddress("tcp", "127.0.0.1", 7878), "tcp:127.0.0.1:7878")
        self.assertEqual(formatAddress("tcp6", "::1", 7878), "tcp6:[::1]:7878")
