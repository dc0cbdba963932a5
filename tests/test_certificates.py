"""
Reloadable certificates (L{hello_service.certificates}): loaded by
Twisted's own parser of the C{ssl:} description, replaced for the next
handshake by a reload, kept when the new files cannot be loaded.
"""

from __future__ import annotations

from pathlib import Path

from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from hello_service.certificates import ReloadableCertificate, loadCertificate

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
