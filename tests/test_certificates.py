"""
Reloadable certificates (L{hello_service.configuration.certificates}): loaded by
Twisted's own parser of the C{ssl:} description, replaced for the next
handshake by a reload, kept when the new files cannot be loaded.
"""

from __future__ import annotations

from pathlib import Path

from twisted.internet.endpoints import SSL4ServerEndpoint
from twisted.internet.testing import MemoryReactor
from twisted.logger import capturedLogs, formatEvent
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from hello_service.configuration.certificates import (
    ReloadableCertificate,
    loadCertificate,
    reloadableEndpoint,
)

from .system.test_certificates import writeCertificate


class ReloadableCertificateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = Path(self.mktemp())
        self.directory.mkdir()
        self.expires = writeCertificate(self.directory, "one", days=10)
        self.description = (
            f"ssl:0:privateKey={self.directory / 'key.pem'}:"
            f"certKey={self.directory / 'cert.pem'}"
        )

    def test_expiry(self) -> None:
        self.assertEqual(ReloadableCertificate(self.description).expires, self.expires)

    def test_reloadPresentsTheNewOne(self) -> None:
        certificate = ReloadableCertificate(self.description)
        before = certificate.getContext()
        later = writeCertificate(self.directory, "two", days=20)
        with capturedLogs() as events:
            self.assertTrue(certificate.reload())
        self.assertIsNot(certificate.getContext(), before)
        self.assertEqual(certificate.expires, later)
        self.assertIn("certificate reloaded, valid until", formatEvent(events[0]))

    def test_badFilesKeepTheOldOne(self) -> None:
        """
        A missing file, a key not the certificate's, a file that is no PEM:
        each one line, and the certificate loaded before stays in use.
        """
        certificate = ReloadableCertificate(self.description)
        context = certificate.getContext()

        def notItsKey() -> None:
            key = (self.directory / "key.pem").read_bytes()
            writeCertificate(self.directory, "other", 5)
            (self.directory / "key.pem").write_bytes(key)

        cases = [
            lambda: (self.directory / "cert.pem").unlink(),
            notItsKey,
            lambda: (self.directory / "cert.pem").write_text("garbage\n"),
        ]
        for breakFiles in cases:
            writeCertificate(self.directory, "fresh", 5)
            breakFiles()
            with capturedLogs() as events:
                self.assertFalse(certificate.reload("told otherwise"))
            [event] = events
            text = formatEvent(event)
            self.assertNotIn("\n", text)
            self.assertRegex(
                text, r"certificate not reloaded \(\w+: .+\); told otherwise$"
            )
            self.assertIs(certificate.getContext(), context)
            self.assertEqual(certificate.expires, self.expires)

    def test_wrappedDescription(self) -> None:
        """
        C{haproxy:ssl:...}: the certificate of the TLS inside.
        """
        options = loadCertificate("haproxy:" + self.description)
        self.assertIsNotNone(options.getContext())


class ReloadableEndpointTests(SynchronousTestCase):
    """
    An C{ssl:} listener's endpoint and its reloadable certificate, made
    from one reading of the files.
    """

    def setUp(self) -> None:
        self.directory = Path(self.mktemp())
        self.directory.mkdir()
        writeCertificate(self.directory, "one", days=10)
        self.description = (
            f"ssl:8443:privateKey={self.directory / 'key.pem'}:"
            f"certKey={self.directory / 'cert.pem'}:backlog=77:interface=127.0.0.2"
        )
        self.reads: list[str] = []
        getContent = FilePath.getContent

        def counted(path: FilePath[str]) -> bytes:
            self.reads.append(path.basename())
            return getContent(path)

        self.patch(FilePath, "getContent", counted)

    def test_filesReadOnce(self) -> None:
        """
        The certificate and the key are each read once, and the endpoint
        listens as the description says, presenting the reloadable
        certificate.
        """
        reactor = MemoryReactor()
        endpoint, certificate = reloadableEndpoint(reactor, self.description)
        self.assertEqual(sorted(self.reads), ["cert.pem", "key.pem"])
        endpoint.listen(object())  # type: ignore[arg-type]
        [(port, _, contextFactory, backlog, interface)] = reactor.sslServers
        self.assertEqual((port, backlog, interface), (8443, 77, "127.0.0.2"))
        self.assertIs(contextFactory, certificate)
        self.assertEqual(certificate.description, self.description)

    def test_insideHAProxy(self) -> None:
        """
        C{haproxy:ssl:...}: the endpoint is the proxy's, around the TLS one.
        """
        endpoint, certificate = reloadableEndpoint(
            MemoryReactor(), "haproxy:" + self.description
        )
        self.assertNotIsInstance(endpoint, SSL4ServerEndpoint)
        self.assertIsInstance(
            endpoint._wrappedEndpoint,  # type: ignore[attr-defined]
            SSL4ServerEndpoint,
        )
        self.assertEqual(sorted(self.reads), ["cert.pem", "key.pem"])
