"""
Certificate rotation from outside, as an operator does it: the files of an
C{ssl:} listener replaced, then SIGHUP.  New handshakes present the new
certificate; in one process an open connection goes on being served; a
certificate that cannot be loaded leaves the one before in use, with one
log line; C{/metrics} exports the expiry of the one in use.
"""

from __future__ import annotations

import datetime
import re
import signal
import socket
import ssl
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.trial.unittest import SynchronousTestCase

from ..support.processes import request, startHello
from ..support.waiting import until

GET = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


def writeCertificate(directory: Path, name: str, days: int) -> float:
    """
    A new key and a certificate for C{name}, valid C{days}, written over
    key.pem and cert.pem; its expiry, in seconds since the epoch.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    expires = now + datetime.timedelta(days=days)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(expires)
        .sign(key, hashes.SHA256())
    )
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / "cert.pem").write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
    )
    return expires.timestamp()


def connect(port: int) -> ssl.SSLSocket:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(raw)


def presented(connection: ssl.SSLSocket) -> str:
    """
    The common name of the certificate the server presented.
    """
    der = connection.getpeercert(binary_form=True)
    assert der is not None
    certificate = x509.load_der_x509_certificate(der)
    (name,) = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(name.value)


def answered(connection: ssl.SSLSocket) -> bytes:
    """
    One keep-alive request on C{connection}; its status line.
    """
    connection.sendall(GET)
    data = b""
    while b"</html>" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0]


class RotationMixin:
    arguments: tuple[str, ...] = ()

    def test_rotation(self) -> None:
        test: SynchronousTestCase = self  # type: ignore[assignment]
        directory = Path(test.mktemp())
        directory.mkdir()
        writeCertificate(directory, "one", days=30)
        listen = (
            f"ssl:0:interface=127.0.0.1:privateKey={directory / 'key.pem'}:"
            f"certKey={directory / 'cert.pem'}"
        )
        process = startHello(
            test, "--listen", listen, *self.arguments, "--no-access-log",
            "--admin", "tcp:0:interface=127.0.0.1",
        )  # fmt: skip
        port = process.port()  # once the whole service serves
        adminPort = process.adminPort()
        opened = connect(port)
        test.addCleanup(opened.close)
        test.assertEqual(presented(opened), "one")
        test.assertEqual(answered(opened), b"HTTP/1.1 200 OK")

        # Swapped, then SIGHUP: new handshakes get the new one.
        expires = writeCertificate(directory, "two", days=60)
        mark = len(process.output)
        process.signal(signal.SIGHUP)
        self.waitUntilReloaded(process, mark)
        fresh = connect(port)
        test.addCleanup(fresh.close)
        test.assertEqual(presented(fresh), "two")
        test.assertEqual(answered(fresh), b"HTTP/1.1 200 OK")
        self.openConnectionGoesOn(opened)
        metrics = request(
            adminPort, b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        ).decode()
        found = re.search(
            r'hello_tls_certificate_expiry_timestamp_seconds\{listen="([^"]+)"\} (\S+)',
            metrics,
        )
        assert found is not None, metrics
        test.assertEqual(found.group(1), listen)
        test.assertEqual(float(found.group(2)), expires)

        # A certificate that cannot be loaded: one line; the one before stays.
        (directory / "cert.pem").write_text("not a certificate\n")
        mark = len(process.output)
        process.signal(signal.SIGHUP)
        line = process.waitFor(r"certificate not reloaded \(.*", after=mark).group(0)
        test.assertNotIn("\n", line)
        test.assertNotIn("Traceback", process.output[mark:])
        test.assertNotIn("rolling restart of", process.output[mark:])
        later = connect(port)
        test.addCleanup(later.close)
        test.assertEqual(presented(later), "two")
        test.assertEqual(answered(later), b"HTTP/1.1 200 OK")

    def waitUntilReloaded(self, process: Any, mark: int) -> None:
        process.waitFor(r"certificate reloaded, valid until", after=mark)

    def openConnectionGoesOn(self, opened: ssl.SSLSocket) -> None:
        """
        In one process, the connection opened before the reload is served
        on, with the certificate it shook hands with.
        """
        test: SynchronousTestCase = self  # type: ignore[assignment]
        test.assertEqual(answered(opened), b"HTTP/1.1 200 OK")
        test.assertEqual(presented(opened), "one")


class OneProcessRotationTests(RotationMixin, SynchronousTestCase):
    pass


class WorkersRotationTests(RotationMixin, SynchronousTestCase):
    """
    With workers, SIGHUP is a rolling restart, whose new workers load the
    new certificate; the supervisor reads it first, and a certificate that
    cannot be loaded starts no restart.
    """

    arguments = ("--workers", "2")

    def waitUntilReloaded(self, process: Any, mark: int) -> None:
        """
        The restart is done, and both old workers have stopped accepting
        (until then, one may still take a new connection, with the
        certificate it loaded).
        """
        process.waitFor(r"rolling restart done", after=mark, seconds=30)
        until(
            lambda: process.output[mark:].count("stopped listening;") >= 2,
            30,
            "both old workers stopped listening",
        )

    def openConnectionGoesOn(self, opened: ssl.SSLSocket) -> None:
        """
        The old worker drains: its connection is closed at a request's end
        or after the drain grace, never reset mid-answer; nothing to check
        beyond the rolling restart's own tests.
        """
