# -*- test-case-name: tests.test_proxytrust,tests.system.test_proxies -*-
"""
Behind a proxy, on real sockets: the PROXY protocol on C{haproxy:}
endpoints and trusted forwarding headers name the client in the access
log, in one process and with C{--workers 2}; and C{ssl:} endpoints are
served by every worker.
"""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from ..support.certificates import selfSigned
from ..support.processes import HelloProcess, readUntilClosed, startHello

GET = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

#: A PROXY v2 header: TCP over IPv6 from [2001:db8::7]:5000 to [::1]:7878.
PROXY_V2 = (
    b"\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24"
    + socket.inet_pton(socket.AF_INET6, "2001:db8::7")
    + socket.inet_pton(socket.AF_INET6, "::1")
    + (5000).to_bytes(2, "big")
    + (7878).to_bytes(2, "big")
)
PROXY_V1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 5000 7878\r\n"

#: An access line's client, worker tag and status.
ACCESS = re.compile(
    r'access#info\] (\S+) - - \[[^]]*\] "[^"]*" (\d{3}) [^\n]*?(worker=\d+|$)', re.M
)


def send(port: int, data: bytes, source: str = "127.0.0.1") -> bytes:
    """
    Send C{data} from C{source} on a new connection; what came back before
    the server closed it.
    """
    with socket.create_connection(
        ("127.0.0.1", port), timeout=10, source_address=(source, 0)
    ) as client:
        client.sendall(data)
        return readUntilClosed(client, 10)


def accessLines(process: HelloProcess) -> list[tuple[str, str, str]]:
    """
    Stop the process (the access log is written in batches) and read its
    access lines: client, status and worker tag.
    """
    process.stop(30)
    process.wait()
    return [found.groups(default="") for found in ACCESS.finditer(process.output)]


class ProxyProtocolTests(SynchronousTestCase):
    """
    C{--listen haproxy:tcp:...}: the header's source address is the client.
    """

    def check(self, *arguments: str) -> None:
        process = startHello(
            self, "--listen", "haproxy:tcp:0:interface=127.0.0.1", *arguments
        )
        port = process.port()
        for header in (PROXY_V1, PROXY_V2):
            self.assertTrue(send(port, header + GET).startswith(b"HTTP/1.1 200 OK"))
        # Malformed headers, and none: closed, nothing answered or logged.
        self.assertEqual(send(port, b"PROXY TCP4 nonsense\r\n" + GET), b"")
        self.assertEqual(send(port, GET), b"")
        # Sorted: two workers' lines reach the log in either order.
        self.assertEqual(
            sorted(client for client, _, _ in accessLines(process)),
            ["2001:db8::7", "203.0.113.7"],
        )

    def test_oneProcess(self) -> None:
        self.check()

    def test_workers(self) -> None:
        self.check("--workers", "2")


class ForwardingTests(SynchronousTestCase):
    """
    C{--forwarded-allow-ips 127.0.0.1}: a request from 127.0.0.1 is logged
    as the right-most untrusted hop of its headers; from 127.0.0.2 (not
    trusted), as 127.0.0.2 whatever its headers say.
    """

    def check(self, *arguments: str) -> None:
        process = startHello(self, "--forwarded-allow-ips", "127.0.0.1", *arguments)
        port = process.port()
        spoofed = b"X-Forwarded-For: 6.6.6.6, 203.0.113.7\r\n\r\n"
        forwarded = b"Forwarded: for=198.51.100.1, for=127.0.0.1\r\n\r\n"
        for source, extra in [
            ("127.0.0.1", spoofed),
            ("127.0.0.1", forwarded),
            ("127.0.0.2", spoofed),
        ]:
            answer = send(port, GET[:-2] + extra, source)
            self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK"), answer)
        self.assertEqual(
            sorted(client for client, _, _ in accessLines(process)),
            ["127.0.0.2", "198.51.100.1", "203.0.113.7"],
        )

    def test_oneProcess(self) -> None:
        self.check()

    def test_workers(self) -> None:
        self.check("--workers", "2")


class TLSWorkersTests(SynchronousTestCase):
    def test_everyWorkerServesTLS(self) -> None:
        """
        C{--workers 2} with an C{ssl:} endpoint: 40 connections offering
        http/1.1 by ALPN all get it and the page, and both workers answer
        some of them.  (Offering h2 too gets h2: C{tests.system.test_http2}
        serves it from both workers.)
        """
        directory = Path(self.mktemp())
        directory.mkdir()
        key, certificate = selfSigned(directory)
        process = startHello(
            self,
            "--workers",
            "2",
            "--listen",
            f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={certificate}",
        )
        port = process.port()
        context = ssl.create_default_context(cafile=str(certificate))
        context.set_alpn_protocols(["http/1.1"])
        for _ in range(40):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    self.assertEqual(tls.selected_alpn_protocol(), "http/1.1")
                    tls.sendall(GET)
                    answer = readUntilClosed(tls, 10)  # type: ignore[arg-type]
            self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK"), answer)
        lines = accessLines(process)
        self.assertEqual(len(lines), 40)
        self.assertEqual({status for _, status, _ in lines}, {"200"})
        self.assertEqual({worker for _, _, worker in lines}, {"worker=1", "worker=2"})
