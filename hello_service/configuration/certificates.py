# -*- test-case-name: tests.test_certificates,tests.system.test_certificates -*-
"""
The certificates of C{ssl:} listeners, reloadable: SIGHUP reads each
listener's key and certificate files again, and new handshakes present the
new certificate while open connections go on with theirs.  A certificate
that cannot be loaded leaves the one loaded before in use, and the log says
why in one line.

A L{ReloadableCertificate} is the listener's TLS context factory: Twisted
asks it for a context at every handshake (C{getContext}, the
C{IOpenSSLContextFactory} contract), and it answers with the context of the
certificate loaded last.  The files are read by Twisted's own parser of the
description (C{serverFromString}), so that every parameter of C{ssl:}
(C{extraCertChain}, C{dhParameters}, C{sslmethod}) means here what it means
there.

pyOpenSSL is imported only where an C{ssl:} listener is served: a plain
install (no C{tls} extra) never imports this module.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

from twisted.internet.endpoints import SSL4ServerEndpoint, serverFromString
from twisted.internet.interfaces import IOpenSSLContextFactory, IStreamServerEndpoint
from twisted.protocols.haproxy import proxyEndpoint
from zope.interface import implementer

from hello_service.configuration.listening import unwrapped
from hello_service.operations.lognames import NamedLogger


class _Capture:
    """
    A reactor that only keeps what an C{ssl:} endpoint would listen with
    (its port, TLS context factory, backlog and interface): how Twisted's
    parser of the description is asked for the certificate it loads, and
    nothing listens.
    """

    def __init__(self) -> None:
        self.port = 0
        self.contextFactory: Any = None
        self.listening: dict[str, Any] = {}

    def listenSSL(
        self, port: int, factory: Any, contextFactory: Any, **listening: Any
    ) -> None:
        self.port = port
        self.contextFactory = contextFactory
        self.listening = listening


def _parsed(description: str) -> _Capture:
    """
    What C{ssl:} description C{description} listens with (any C{haproxy:}
    around it set aside), its files read now and its key checked against
    its certificate.
    """
    capture = _Capture()
    serverFromString(capture, unwrapped(description)[1]).listen(None)
    capture.contextFactory.getContext()  # checks that the key is the certificate's
    return capture


def loadCertificate(description: str) -> Any:
    """
    The C{CertificateOptions} of C{ssl:} description C{description} (any
    C{haproxy:} around it is set aside), its files read now and its key
    checked against its certificate.

    @raise Exception: whatever reading or checking them raised (a missing
        file, a key that is not the certificate's, a file that is no PEM).
    """
    return _parsed(description).contextFactory


def reloadableEndpoint(
    reactor: Any, description: str
) -> tuple[IStreamServerEndpoint, ReloadableCertificate]:
    """
    The endpoint of C{ssl:} description C{description} (inside any
    C{haproxy:}) that presents a L{ReloadableCertificate}, and that
    certificate: the files are read once, by Twisted's own parser.

    @raise Exception: as L{loadCertificate} does.
    """
    parsed = _parsed(description)
    certificate = ReloadableCertificate(description, parsed.contextFactory)
    endpoint: IStreamServerEndpoint = SSL4ServerEndpoint(
        reactor, parsed.port, certificate, **parsed.listening
    )
    for _ in range(unwrapped(description)[0]):
        endpoint = proxyEndpoint(endpoint)
    return endpoint, certificate


def expiryOf(options: Any) -> float:
    """
    When the certificate of C{options} expires, in seconds since the epoch.
    """
    notAfter = options.certificate.get_notAfter().decode("ascii")
    return float(calendar.timegm(time.strptime(notAfter, "%Y%m%d%H%M%SZ")))


@implementer(IOpenSSLContextFactory)
class ReloadableCertificate:
    """
    The certificate an C{ssl:} listener presents, which L{reload} replaces
    for the handshakes to come.

    @ivar description: the C{--listen} description it is loaded from.
    """

    log = NamedLogger("hello_service.certificates.ReloadableCertificate")

    def __init__(self, description: str, loaded: Any = None) -> None:
        """
        @param loaded: the C{CertificateOptions} already read from the
            description's files, if they were (L{reloadableEndpoint}).
        @raise Exception: if the certificate cannot be loaded (see
            L{loadCertificate}).
        """
        self.description = description
        self._options = loadCertificate(description) if loaded is None else loaded
        #: The options last converted for QUIC, and what they became.
        self._forQuic: tuple[Any, tuple[Any, Any, list[Any]]] | None = None

    def getContext(self) -> Any:
        """
        The context of the certificate loaded last: asked for at every
        handshake.
        """
        return self._options.getContext()

    def forQuic(self) -> tuple[Any, Any, list[Any]]:
        """
        The certificate loaded last, its key and its chain, as aioquic
        takes them (C{cryptography}'s objects): asked for at every QUIC
        handshake (C{--http3}), converted once per load.
        """
        options = self._options
        if self._forQuic is None or self._forQuic[0] is not options:
            converted = (
                options.certificate.to_cryptography(),
                options.privateKey.to_cryptography_key(),
                [extra.to_cryptography() for extra in options.extraCertChain],
            )
            self._forQuic = (options, converted)
        return self._forQuic[1]

    @property
    def expires(self) -> float:
        """
        When the certificate in use expires, in seconds since the epoch.
        """
        return expiryOf(self._options)

    def reload(self, otherwise: str = "still serving the one loaded before") -> bool:
        """
        Read the files again and present the new certificate from the next
        handshake on; if it cannot be loaded, say why in one line (ending
        with C{otherwise}, what happens instead) and go on presenting the
        one loaded before.

        @return: whether the new certificate is in use.
        """
        try:
            self._options = loadCertificate(self.description)
        except Exception as error:
            self.log.error(
                "--listen {description}: certificate not reloaded ({error}); "
                "{otherwise}",
                description=self.description,
                error=_oneLine(error),
                otherwise=otherwise,
            )
            return False
        self.log.info(
            "--listen {description}: certificate reloaded, valid until {until}",
            description=self.description,
            until=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.expires)),
        )
        return True


def _oneLine(error: Exception) -> str:
    """
    An error as one line: its kind and its message (pyOpenSSL's are lists
    of tuples).
    """
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"
