"""
Tests for L{hello_service.configuration.listening} in memory: how addresses are named and
read from Twisted's endpoints.  Binding real sockets for workers is tested
in C{tests.system.test_workers}.
"""

from __future__ import annotations

from pathlib import Path

from twisted.internet.endpoints import serverFromString
from twisted.internet.testing import MemoryReactor
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from hello_service.configuration.listening import (
    endpointKind,
    formatAddress,
    tcpEndpointAddress,
    unwrapped,
)


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

    def test_wrappedAndTLSAddress(self) -> None:
        """
        The address of an C{ssl:} endpoint, and of one inside C{haproxy:}
        wrappers, is read the same way: the main process binds it for the
        workers, which add the layers.
        """
        from .support.certificates import selfSigned

        directory = FilePath(self.mktemp())
        directory.makedirs()
        key, certificate = selfSigned(Path(directory.path))
        reactor = MemoryReactor()
        tls = f"ssl:8443:interface=\\:\\:1:backlog=9:privateKey={key}:certKey={certificate}"
        self.assertEqual(
            tcpEndpointAddress(serverFromString(reactor, tls)), ("::1", 8443, 9)
        )
        self.assertEqual(
            tcpEndpointAddress(
                serverFromString(reactor, "haproxy:haproxy:tcp:80:backlog=3")
            ),
            ("", 80, 3),
        )
        self.assertIsNone(
            tcpEndpointAddress(serverFromString(reactor, "haproxy:unix:/x"))
        )

    def test_kinds(self) -> None:
        """
        What the start-up line calls each kind, wrappers first.
        """
        self.assertEqual(
            [
                endpointKind(d)
                for d in [
                    "tcp:80",
                    "SSL:443",
                    "haproxy:tcp:80",
                    "HAProxy:haproxy:unix:/x",
                ]
            ],
            ["tcp", "ssl", "haproxy:tcp", "haproxy:haproxy:unix"],
        )
        self.assertEqual(unwrapped("haproxy:ssl:443"), (1, "ssl:443"))

    def test_describedAsOperatorsReadThem(self) -> None:
        """
        Addresses are named by the kind of endpoint and the address bound,
        with brackets around IPv6 hosts.
        """
        self.assertEqual(formatAddress("tcp", "127.0.0.1", 7878), "tcp:127.0.0.1:7878")
        self.assertEqual(formatAddress("tcp6", "::1", 7878), "tcp6:[::1]:7878")
