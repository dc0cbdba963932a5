# -*- test-case-name: tests.test_tls -*-
"""
--listen ssl:...: TLS with ALPN, as curl and browsers use it.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import ssl
from twisted.internet.endpoints import (
    TCP4ClientEndpoint,
    connectProtocol,
    wrapClientTLS,
)
from twisted.trial.unittest import TestCase

from ..support.tcp import Exchange, closing, reactor, startService


def selfSigned(directory: Path) -> tuple[Path, Path]:
    """
    A key and a certificate for localhost.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .sign(key, hashes.SHA256())
    )
    keyPath, certificatePath = directory / "key.pem", directory / "cert.pem"
    keyPath.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    certificatePath.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return keyPath, certificatePath


class TLSTests(TestCase):
    async def test_alpn(self) -> None:
        """
        A client offering only http/1.1 by ALPN gets it, and its page.  (One
        offering h2 too gets h2: C{tests.system.test_http2}.)
        """
        directory = Path(self.mktemp())
        directory.mkdir()
        key, certificate = selfSigned(directory)
        service = startService(
            self,
            "--listen",
            f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={certificate}",
        )
        port = service.ports[-1].getHost().port  # type: ignore[attr-defined]
        options = ssl.optionsForClientTLS(
            "localhost",
            trustRoot=ssl.Certificate.loadPEM(certificate.read_bytes()),
            acceptableProtocols=[b"http/1.1"],
        )
        endpoint = wrapClientTLS(
            options, TCP4ClientEndpoint(reactor(), "127.0.0.1", port)
        )
        client = Exchange(closing(b"/"))
        await connectProtocol(endpoint, client)
        answer, _ = await client.finished
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer)
        self.assertEqual(client.transport.negotiatedProtocol, b"http/1.1")  # type: ignore[union-attr]
