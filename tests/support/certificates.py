"""
Certificates for the tests: a key and a self-signed certificate for
localhost, as objects (for aioquic) or as PEM files (for an ssl: listener).
"""

from __future__ import annotations

import datetime
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def selfSignedObjects() -> tuple[Any, Any]:
    """A certificate for localhost and its key, as cryptography's objects."""
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
    return certificate, key


@cache
def sharedObjects() -> tuple[Any, Any]:
    """One certificate and key for a whole test run (made once)."""
    return selfSignedObjects()


def selfSigned(directory: Path) -> tuple[Path, Path]:
    """
    A key and a certificate for localhost, written to C{directory}.
    """
    certificate, key = selfSignedObjects()
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
