# -*- test-case-name: tests.test_tls -*-
"""
--listen ssl:...: TLS with ALPN, as curl and browsers use it.
"""

from __future__ import annotations

from pathlib import Path

from twisted.internet import ssl
from twisted.internet.endpoints import (
    TCP4ClientEndpoint,
    connectProtocol,
    wrapClientTLS,
)
from twisted.trial.unittest import TestCase

from ..support.certificates import selfSigned
from ..support.tcp import Exchange, closing, reactor, startService


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
