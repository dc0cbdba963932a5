"""
HTTP/2 against real C{twistd -n hello} processes on 127.0.0.1, with real
clients: curl (over TLS by ALPN, and in cleartext by prior knowledge),
nghttp, headless Chromium over TLS, and an C{h2} client on a socket for
the one-connection lesson, the drain and an abusive connection; in one
process and with C{--workers 2}, behind C{haproxy:} too.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, PingAckReceived, StreamEnded
from h2.exceptions import ProtocolError
from hyperframe.frame import DataFrame
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from ..support.certificates import selfSigned
from ..support.processes import CHECKOUT, startHello
from ..support.waiting import until
from ..test_http2 import frames
from .test_statuspage import chromium

PAGE = (CHECKOUT / "hello_service" / "http" / "pages" / "hello.html").read_bytes()
SERVING = r"serving on (?:tcp|ssl):127\.0\.0\.1:(\d+)"


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SkipTest(f"no {name} (Debian: {package})")
    return found


class H2Client:
    """
    A blocking HTTP/2 client on one socket, prior knowledge: requests sent
    at once, each answer's completion time read as it comes.
    """

    def __init__(self, port: int, raw: bytes = b"") -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        if raw:
            self.socket.sendall(raw)  # a PROXY header, say
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.h2.initiate_connection()
        self.start = time.monotonic()
        self.done: dict[int, float] = {}
        self.bodies: dict[int, bytes] = {}
        self.terminated: ConnectionTerminated | None = None
        #: PINGs the server answered (L{heard}).
        self.pingsAnswered = 0
        self._send()

    def _send(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.socket.sendall(data)

    def get(self, path: bytes) -> int:
        stream = self.h2.get_next_available_stream_id()
        self.h2.send_headers(
            stream,
            [(b":method", b"GET"), (b":path", path), (b":scheme", b"http"),
             (b":authority", b"127.0.0.1")],
            end_stream=True,
        )  # fmt: skip
        self._send()
        return stream

    def heard(self, seconds: float = 10) -> None:
        """
        Wait until the server has read everything sent so far: it answers
        a PING only once it has read the frames sent before it.
        """
        self.pingsAnswered = 0
        self.h2.ping(b"heard-it")
        self._send()
        self.readUntil(set(), seconds, pings=1)

    def readUntil(self, streams: set[int], seconds: float = 10, pings: int = 0) -> None:
        deadline = time.monotonic() + seconds
        # A GOAWAY does not end the streams it names: read on until they
        # end or the server closes.
        while not streams <= set(self.done) or self.pingsAnswered < pings:
            self.socket.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.socket.recv(65536)
            if not data:
                return
            if self.terminated is not None:
                self._byHand(data)
                continue
            try:
                events = self.h2.receive_data(data)
            except ProtocolError:  # h2's client takes a GOAWAY as the end
                events = []
            for event in events:
                if isinstance(event, DataReceived):
                    self.bodies[event.stream_id] = (
                        self.bodies.get(event.stream_id, b"") + event.data
                    )
                    self.h2.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                elif isinstance(event, StreamEnded):
                    self.done[event.stream_id] = time.monotonic() - self.start
                elif isinstance(event, ConnectionTerminated):
                    self.terminated = event
                elif isinstance(event, PingAckReceived):
                    self.pingsAnswered += 1
            self._send()

    def _byHand(self, data: bytes) -> None:
        """
        After a GOAWAY, h2's client reads nothing more: the frames of the
        streams it named, read by hand (whole frames only, as a test's
        reads of a loopback socket bring them).
        """
        for frame in frames(data):
            if isinstance(frame, DataFrame):
                self.bodies[frame.stream_id] = (
                    self.bodies.get(frame.stream_id, b"") + frame.data
                )
            if "END_STREAM" in frame.flags:
                self.done[frame.stream_id] = time.monotonic() - self.start

    def close(self) -> None:
        self.socket.close()


class RealClientsTests(SynchronousTestCase):
    def test_curlPriorKnowledgeAndTLS(self) -> None:
        """
        curl gets the hello page over HTTP/2 in cleartext (prior knowledge)
        and over TLS (ALPN), and HTTP/1.1 when it asks for it.
        """
        curl = tool("curl", "curl")
        directory = Path(self.mktemp())
        directory.mkdir()
        key, certificate = selfSigned(directory)
        process = startHello(
            self,
            "--listen", "tcp:0:interface=127.0.0.1",
            "--listen", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={certificate}",
        )  # fmt: skip
        found = process.waitFor(
            r"serving on tcp:127\.0\.0\.1:(\d+), ssl:127\.0\.0\.1:(\d+)"
        )
        plain, tls = int(found.group(1)), int(found.group(2))

        def fetch(*arguments: str) -> tuple[str, bytes]:
            done = subprocess.run(
                [curl, "-s", "-w", "\\n%{http_version}", "--cacert", str(certificate),
                 *arguments],
                capture_output=True, timeout=30, check=True,
            )  # fmt: skip
            body, _, version = done.stdout.rpartition(b"\n")
            return version.decode(), body

        self.assertEqual(
            fetch("--http2-prior-knowledge", f"http://127.0.0.1:{plain}/"), ("2", PAGE)
        )
        self.assertEqual(fetch("--http2", f"https://localhost:{tls}/"), ("2", PAGE))
        self.assertEqual(fetch("--http1.1", f"https://localhost:{tls}/"), ("1.1", PAGE))
        self.assertEqual(fetch(f"http://127.0.0.1:{plain}/"), ("1.1", PAGE))
        process.waitFor(r'"GET / HTTP/2\.0" 200 ')

    def test_nghttpOneConnection(self) -> None:
        """
        nghttp on one connection: C{/} is answered while C{/sleep} (1 s)
        still waits, and the 404 page is the 404 page.
        """
        nghttp = tool("nghttp", "nghttp2-client")
        process = startHello(self, "--sleep", "1")
        port = process.port()
        done = subprocess.run(
            [nghttp, "-n", "--stat", f"http://127.0.0.1:{port}/sleep",
             f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/nothing"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        rows = {
            path: (float(ms) / (1000 if unit == "ms" else 1), int(code))
            for ms, unit, code, path in re.findall(
                r"\+([\d.]+)(ms|s)\s+\+\S+\s+\S+\s+(\d{3})\s+\d+\s+(\S+)", done.stdout
            )
        }
        self.assertEqual(rows["/"][1], 200)
        self.assertEqual(rows["/nothing"][1], 404)
        self.assertLess(rows["/"][0], 0.5)
        self.assertGreaterEqual(rows["/sleep"][0], 0.9)

    def test_chromiumOverTLS(self) -> None:
        """
        Headless Chromium loads the page over TLS with HTTP/2, as its own
        network log says (the protocol ALPN chose).
        """
        browser = chromium()
        directory = Path(self.mktemp())
        directory.mkdir()
        key, certificate = selfSigned(directory)
        process = startHello(
            self,
            "--listen", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={certificate}",
        )  # fmt: skip
        port = process.port()
        netlog = directory / "netlog.json"
        command = [browser, "--headless", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", "--ignore-certificate-errors",
                   f"--user-data-dir={directory / 'profile'}",
                   f"--log-net-log={netlog}", "--dump-dom",
                   f"https://localhost:{port}/"]  # fmt: skip
        import os

        if os.geteuid() == 0:
            command.insert(2, "--no-sandbox")
        dom = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
        self.assertIn("Hi from Twisted", dom)
        log = json.loads(netlog.read_text())
        protocols = {
            event.get("params", {}).get("next_proto")
            or event.get("params", {}).get("negotiated_protocol")
            for event in log["events"]
        }
        self.assertIn("h2", protocols)
        process.waitFor(r'"GET / HTTP/2\.0" 200 ')


class LessonTests(SynchronousTestCase):
    def test_oneConnectionHTTP1AgainstHTTP2(self) -> None:
        """
        A C{/sleep} (1 s) then ten C{/} on one connection: pipelined over
        HTTP/1.1 all ten wait for the sleep; as streams over HTTP/2 they
        are answered at once.
        """
        process = startHello(self, "--sleep", "1")
        port = process.port()
        pipelined = b"GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n" + (
            b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 10
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            start = time.monotonic()
            client.sendall(pipelined)
            first = client.recv(65536)
            took = time.monotonic() - start
        self.assertGreaterEqual(took, 0.9)
        self.assertTrue(first.startswith(b"HTTP/1.1 200 OK"))
        client2 = H2Client(port)
        slow = client2.get(b"/sleep")
        fast = {client2.get(b"/") for _ in range(10)}
        client2.readUntil(fast)
        self.assertLess(max(client2.done[s] for s in fast), 0.5)
        client2.readUntil({slow})
        self.assertGreaterEqual(client2.done[slow], 0.9)
        self.assertEqual(client2.bodies[slow], PAGE)
        client2.close()


class ModesTests(SynchronousTestCase):
    def test_workersOverTLSAndCleartext(self) -> None:
        """
        With C{--workers 2}, HTTP/2 is served by both workers, over TLS and
        in cleartext.
        """
        curl = tool("curl", "curl")
        directory = Path(self.mktemp())
        directory.mkdir()
        key, certificate = selfSigned(directory)
        process = startHello(
            self, "--workers", "2",
            "--listen", "tcp:0:interface=127.0.0.1",
            "--listen", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={certificate}",
        )  # fmt: skip
        found = process.waitFor(r"serving on tcp:127\.0\.0\.1:(\d+), ssl:127\.0\.0\.1:(\d+) "
                                r"with 2 workers \(pids (\d+), (\d+)\)")  # fmt: skip
        plain, tls = found.group(1), found.group(2)
        pids = {found.group(3), found.group(4)}
        for _ in range(20):
            for url, flag in ((f"http://127.0.0.1:{plain}/", "--http2-prior-knowledge"),
                              (f"https://localhost:{tls}/", "--http2")):  # fmt: skip
                done = subprocess.run(
                    [curl, "-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                     "--cacert", str(certificate), flag, url],
                    capture_output=True, text=True, timeout=30, check=True,
                )  # fmt: skip
                self.assertEqual(done.stdout, "2 200")

        def served() -> set[str]:
            return set(
                re.findall(r'"GET / HTTP/2\.0" 200 .* pid=(\d+)', process.output)
            )

        until(lambda: served() == pids, 10, f"answers from both workers {pids}")
        self.assertEqual(served(), pids)

    def test_behindProxyProtocol(self) -> None:
        """
        Behind C{haproxy:}, the PROXY header is read first, then the
        preface; the access line names the PROXY source.
        """
        process = startHello(self, "--listen", "haproxy:tcp:0:interface=127.0.0.1")
        port = int(
            process.waitFor(r"serving on haproxy:tcp:127\.0\.0\.1:(\d+)").group(1)
        )
        client = H2Client(port, raw=b"PROXY TCP4 192.0.2.9 127.0.0.1 5000 80\r\n")
        stream = client.get(b"/")
        client.readUntil({stream})
        self.assertEqual(client.bodies[stream], PAGE)
        client.close()
        process.waitFor(r'192\.0\.2\.9 - - \[[^]]+\] "GET / HTTP/2\.0" 200 ')

    def test_parallelMode(self) -> None:
        """
        In C{--parallel}, a stream's work runs in the pool and its answer
        is written on the reactor thread: ten streams on one connection,
        with 10 threads, all answered after one delay.
        """
        process = startHello(self, "--parallel", "--threads", "10", "--sleep", "0.5")
        client = H2Client(process.port())
        streams = {client.get(b"/sleep") for _ in range(10)}
        client.readUntil(streams)
        self.assertLess(max(client.done.values()), 1.2)
        self.assertEqual({client.bodies[s] for s in streams}, {PAGE})
        client.close()


class ShutdownAndAbuseTests(SynchronousTestCase):
    def test_sigtermFinishesStreamsInFlight(self) -> None:
        """
        SIGTERM with a stream in flight: a GOAWAY names it, it is answered,
        and the process ends as twistd does after SIGTERM.
        """
        process = startHello(self, "--sleep", "1")
        client = H2Client(process.port())
        stream = client.get(b"/sleep")
        client.heard()
        process.signal(signal.SIGTERM)
        client.readUntil({stream})
        self.assertEqual(client.bodies.get(stream), PAGE)
        self.assertEqual(client.terminated.last_stream_id, stream)  # type: ignore[union-attr]
        self.assertEqual(process.wait(20), -signal.SIGTERM)
        client.close()

    def test_pingFloodCutsOnlyItsConnection(self) -> None:
        """
        A PING flood ends its own connection with a GOAWAY (counted in
        C{/metrics}); another connection is served meanwhile.
        """
        from ..support.processes import request

        process = startHello(self, "--admin", "tcp:0:interface=127.0.0.1")
        ports = [int(p) for p in re.findall(r"tcp:127\.0\.0\.1:(\d+)", process.waitFor(
            r"serving on .*").group(0))]  # fmt: skip
        port = process.port()
        admin = next(p for p in ports if p != port) if len(ports) > 1 else None
        flood = H2Client(port)
        for number in range(2000):
            flood.h2.ping(number.to_bytes(8, "big"))
        try:
            flood._send()
        except OSError:
            pass
        flood.readUntil({-1}, seconds=5)
        self.assertIsNotNone(flood.terminated)
        flood.close()
        other = H2Client(port)
        stream = other.get(b"/")
        other.readUntil({stream})
        self.assertEqual(other.bodies[stream], PAGE)
        other.close()
        if admin is not None:
            metrics = request(admin, b"GET /metrics HTTP/1.0\r\n\r\n")
            self.assertIn(b'hello_refused_total{cause="control_flood"} 1.0', metrics)

    def test_noHTTP2(self) -> None:
        """
        C{--no-http2}: the preface gets HTTP/1.1's 505, as before.
        """
        from ..support.processes import request

        process = startHello(self, "--no-http2")
        answer = request(process.port(), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 505"), answer)
