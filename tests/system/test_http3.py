"""
HTTP/3 (C{--http3}) against real C{twistd -n hello} processes on
127.0.0.1, with real clients: aioquic's (a request per stream, cancelled
streams, malformed requests, the drain), curl for the C{Alt-Svc} of the
TCP answers, and headless Chromium over QUIC; in one process, with
C{--workers 2} and with C{--parallel}; and the lesson's claim, under
packet loss in a network namespace.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from ..support.certificates import selfSigned
from ..support.http3client import get, requestFields, session
from ..support.launching import PYTHON, ServerProcess, checkoutEnvironment, helloCommand
from ..support.lossy import LossyNamespace, largePage, missing
from ..support.processes import CHECKOUT, runHello, startHello
from ..support.waiting import until
from .test_http2 import tool
from .test_statuspage import chromium

PAGE = (CHECKOUT / "hello_service" / "http" / "pages" / "hello.html").read_bytes()
H3_MESSAGE_ERROR = 0x10E
H3_NO_ERROR = 0x100


def startHTTP3(test: SynchronousTestCase, *arguments: str) -> tuple[Any, int, Path]:
    """
    C{twistd -n hello --http3} on an C{ssl:} listener of any free port of
    127.0.0.1: the process, its port (TCP and UDP), its certificate.
    """
    directory = Path(test.mktemp())
    directory.mkdir()
    key, certificate = selfSigned(directory)
    process = startHello(
        test,
        "--listen", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={certificate}",
        "--http3", *arguments,
    )  # fmt: skip
    port = int(process.waitFor(r"serving on ssl:127\.0\.0\.1:(\d+), udp:\d+").group(1))
    return process, port, certificate


def run(coroutine: Any, seconds: float = 30) -> Any:
    """Run an asyncio scenario to its end, bounded in time."""
    return asyncio.run(asyncio.wait_for(coroutine, seconds))


class ServingTests(SynchronousTestCase):
    def test_everyRouteOneProcess(self) -> None:
        """
        Over HTTP/3: the hello page, the 404 page, HEAD without a body,
        405 with C{Allow}; each an access line saying C{HTTP/3}.
        """
        process, port, _ = startHTTP3(self)
        hello, missing, head, other = get(
            port,
            [
                requestFields(),
                requestFields(b"/nothing"),
                requestFields(b"/", b"HEAD"),
                requestFields(b"/", b"DELETE"),
            ],
        )
        self.assertEqual((hello.status, hello.body), (200, PAGE))
        self.assertEqual(missing.status, 404)
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(head.header(b"content-length"), b"%d" % len(PAGE))
        self.assertEqual(other.status, 405)
        process.waitFor(r'"GET / HTTP/3" 200 ')
        process.waitFor(r'"HEAD / HTTP/3" 200 ')

    def test_altSvcOnTCP(self) -> None:
        """
        The TCP port's answers, over HTTP/2 and HTTP/1.1, say HTTP/3 is on
        the same port: C{Alt-Svc: h3=":PORT"}.
        """
        curl = tool("curl", "curl")
        _, port, certificate = startHTTP3(self)
        for flag in ("--http2", "--http1.1"):
            head = subprocess.run(
                [curl, "-s", "-D-", "-o", "/dev/null", "--cacert", str(certificate),
                 flag, f"https://localhost:{port}/"],
                capture_output=True, text=True, timeout=30, check=True,
            ).stdout  # fmt: skip
            self.assertRegex(head, rf'(?im)^alt-svc: h3=":{port}"; ma=86400\r?$', flag)

    def test_oneConnectionLesson(self) -> None:
        """
        A C{/sleep} (1 s) then ten C{/} as streams of one QUIC connection:
        the ten are answered at once, the sleep after its second.
        """
        _, port, _ = startHTTP3(self, "--sleep", "1")

        async def scenario() -> tuple[list[float], float]:
            async with await session(port) as client:
                start = asyncio.get_running_loop().time()
                slow = client.send(requestFields(b"/sleep"))
                fast = [client.send(requestFields()) for _ in range(10)]
                answers = await asyncio.gather(*(client.waiters[i] for i in fast))
                sleep = await client.waiters[slow]
                return [a.at - start for a in answers], sleep.at - start

        fast, slow = run(scenario())
        self.assertLess(max(fast), 0.5)
        self.assertGreaterEqual(slow, 0.9)

    def test_cancelledRequestCostsOnlyItself(self) -> None:
        """
        A client cancels a C{/sleep} (RESET_STREAM and STOP_SENDING, as a
        browser leaving a page): the connection goes on, the UDP port
        goes on answering new connections after the sleep would have
        ended, and nothing is logged as an error.
        """
        process, port, _ = startHTTP3(self, "--sleep", "0.5")

        async def scenario() -> int:
            async with await session(port) as client:
                slow = client.send(requestFields(b"/sleep"))
                await asyncio.sleep(0.1)
                client.cancel(slow)
                await asyncio.sleep(0.8)
                again = client.send(requestFields())
                return (await client.waiters[again]).status

        self.assertEqual(run(scenario()), 200)
        (answer,) = get(port)
        self.assertEqual(answer.status, 200)
        self.assertNotIn("Traceback", process.output)
        self.assertNotIn("Unhandled", process.output)

    def test_malformedIsAStreamError(self) -> None:
        """
        A request without C{:scheme} is reset with H3_MESSAGE_ERROR, never
        answered 200; the same connection then serves a good one.
        """
        _, port, _ = startHTTP3(self)

        async def scenario() -> tuple[Any, int]:
            async with await session(port) as client:
                bad = client.send([f for f in requestFields() if f[0] != b":scheme"])
                malformed = await client.waiters[bad]
                good = client.send(requestFields())
                return malformed, (await client.waiters[good]).status

        malformed, status = run(scenario())
        self.assertEqual((malformed.status, malformed.reset), (0, H3_MESSAGE_ERROR))
        self.assertEqual(status, 200)

    def test_sigtermDrains(self) -> None:
        """
        SIGTERM with a stream in flight: GOAWAY, the stream answered, then
        CONNECTION_CLOSE with H3_NO_ERROR, and the process ends as twistd
        does after SIGTERM.
        """
        process, port, _ = startHTTP3(self, "--sleep", "1")

        async def scenario() -> tuple[Any, list[int], Any]:
            async with await session(port) as client:
                slow = client.send(requestFields(b"/sleep"))
                await asyncio.sleep(0.3)
                process.signal(signal.SIGTERM)
                answer = await client.waiters[slow]
                for _ in range(100):
                    if client.terminated is not None:
                        break
                    await asyncio.sleep(0.05)
                return answer, list(client.h3.goAways), client.terminated

        answer, goAways, terminated = run(scenario())
        self.assertEqual((answer.status, answer.body), (200, PAGE))
        self.assertEqual(goAways, [4])
        self.assertEqual(terminated.error_code, H3_NO_ERROR)
        self.assertEqual(process.wait(20), -signal.SIGTERM)

    def test_garbageLeavesItServing(self) -> None:
        """
        Garbage datagrams, short-header packets for no connection and an
        Initial in an unknown version (answered with Version Negotiation)
        leave the port serving, and are counted.
        """
        process, port, _ = startHTTP3(self, "--admin", "tcp:0:interface=127.0.0.1")
        admin = int(process.waitFor(r"admin site on tcp:127\.0\.0\.1:(\d+)").group(1))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            raw.settimeout(2)
            for garbage in (os.urandom(40), b"\x40" + os.urandom(30), b""):
                raw.sendto(garbage, ("127.0.0.1", port))
            unknown = bytes([0xC0]) + b"\x0a\x0a\x0a\x0a" + b"\x08" + os.urandom(8)
            unknown += b"\x08" + os.urandom(8) + bytes(1200)
            raw.sendto(unknown, ("127.0.0.1", port))
            negotiation, _ = raw.recvfrom(2048)
        self.assertEqual(negotiation[1:5], b"\x00\x00\x00\x00")
        (answer,) = get(port)
        self.assertEqual(answer.status, 200)
        metrics = _metrics(admin)
        self.assertRegex(metrics, r'hello_refused_total\{cause="quic_version"\} 1\.0')
        self.assertRegex(
            metrics,
            r'hello_requests_total\{protocol="HTTP/3",route="/",status="200"\} 1\.0',
        )


def _metrics(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    return data.decode()


class ModesTests(SynchronousTestCase):
    def test_workersEachServe(self) -> None:
        """
        With C{--workers 2}, each worker reads its own UDP socket of the
        same port, and both serve HTTP/3.
        """
        process, port, _ = startHTTP3(self, "--workers", "2")
        pids = set(process.waitFor(r"with 2 workers \(pids (\d+), (\d+)\)").groups())
        for _ in range(20):
            (answer,) = get(port)
            self.assertEqual(answer.status, 200)

        def served() -> set[str]:
            return set(re.findall(r'"GET / HTTP/3" 200 .* pid=(\d+)', process.output))

        until(lambda: served() == pids, 10, f"answers from both workers {pids}")
        self.assertEqual(served(), pids)

    def test_rollingRestartFinishesStreams(self) -> None:
        """
        C{SIGHUP} with C{--workers 2} and a C{/sleep} in flight over HTTP/3:
        the old worker drains it (GOAWAY, the answer), and the new workers
        serve HTTP/3 on the same UDP port.
        """
        process, port, _ = startHTTP3(self, "--workers", "2", "--sleep", "5")
        process.waitFor(r"with 2 workers \(pids (\d+), (\d+)\)")

        def drainBegins(mark: int) -> None:
            """
            Wait until the old worker holding the C{/sleep} begins to drain
            with it in flight: a restart slowed by a busy machine may
            otherwise start the drain after the answer went out.
            """
            process.waitFor(
                r"stopped listening; draining \d+ connections? with 1 request in flight",
                after=mark,
                seconds=20,  # within run()'s bound, so a miss says what it missed
            )

        async def scenario() -> tuple[Any, list[int]]:
            async with await session(port) as client:
                slow = client.send(requestFields(b"/sleep"))
                await asyncio.sleep(0.3)
                mark = len(process.output)
                process.signal(signal.SIGHUP)
                await asyncio.get_running_loop().run_in_executor(
                    None, drainBegins, mark
                )
                return await client.waiters[slow], list(client.h3.goAways)

        answer, goAways = run(scenario())
        self.assertEqual((answer.status, answer.body), (200, PAGE))
        self.assertEqual(goAways, [4])
        process.waitFor(r"rolling restart done")
        for _ in range(5):
            (again,) = get(port)
            self.assertEqual(again.status, 200)

    def test_curl(self) -> None:
        """
        curl over HTTP/3 alone, where this curl has it (Debian 12's has
        not: then this says so and skips).
        """
        curl = tool("curl", "curl")
        features = subprocess.run(
            [curl, "--version"], capture_output=True, text=True, timeout=30
        ).stdout
        if "HTTP3" not in features:
            raise SkipTest("this curl has no HTTP/3 (Debian 12's has none)")
        _, port, certificate = startHTTP3(self)
        done = subprocess.run(
            [curl, "-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
             "--http3-only", "--cacert", str(certificate), f"https://localhost:{port}/"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        self.assertEqual(done.stdout, "3 200")

    def test_parallelMode(self) -> None:
        """
        C{--parallel}: five C{/sleep} streams of one connection are worked
        on in five threads at once.
        """
        _, port, _ = startHTTP3(self, "--parallel", "--threads", "5", "--sleep", "0.5")
        start = time.monotonic()
        answers = get(port, [requestFields(b"/sleep")] * 5)
        self.assertEqual({a.status for a in answers}, {200})
        self.assertLess(time.monotonic() - start, 2.0)

    def test_refusedWithoutSSL(self) -> None:
        """
        C{--http3} with no C{ssl:} listener stops the start with one line.
        """
        done = runHello("--listen", "tcp:0", "--http3")
        self.assertEqual(done.returncode, 1)
        self.assertEqual(
            done.stderr.strip().splitlines(),
            [
                "hello: --http3: serves HTTP/3 on the UDP port of an ssl: listener, "
                "and no --listen is one (add --listen ssl:PORT:privateKey=...)"
            ],
        )


class BrowserTests(SynchronousTestCase):
    def test_chromiumOverQUIC(self) -> None:
        """
        Headless Chromium, forced onto QUIC for the origin and trusting the
        test certificate by its key, loads the page over HTTP/3.
        """
        browser = chromium()
        process, port, certificate = startHTTP3(self)
        directory = certificate.parent
        spki = (
            x509.load_pem_x509_certificate(certificate.read_bytes())
            .public_key()
            .public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        )
        pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
        command = [browser, "--headless", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", "--enable-quic",
                   f"--origin-to-force-quic-on=localhost:{port}",
                   # QUIC does not fall back from ::1 to 127.0.0.1 as TCP does.
                   "--host-resolver-rules=MAP localhost 127.0.0.1",
                   f"--ignore-certificate-errors-spki-list={pin}",
                   f"--user-data-dir={directory / 'profile'}",
                   "--dump-dom",
                   f"https://localhost:{port}/"]  # fmt: skip
        if os.geteuid() == 0:
            command.insert(2, "--no-sandbox")
        try:
            dom = subprocess.run(
                command, capture_output=True, text=True, timeout=60
            ).stdout
        except subprocess.TimeoutExpired:
            raise SkipTest("Chromium did not finish in 60 s") from None
        self.assertIn("Hi from Twisted", dom)
        # The server's word for it: the browser's request came over QUIC.
        process.waitFor(r'"GET / HTTP/3" 200 \d+ "-" "[^"]*HeadlessChrome')


class LossTests(SynchronousTestCase):
    def test_lossDelaysOnlyItsStream(self) -> None:
        """
        The lesson's claim, with 10% of the server's packets lost in a
        network namespace: one connection asks for a large page and ten small answers at once,
        twenty times over each protocol (up to forty, until a loss hits the
        large answer over HTTP/2).  Over HTTP/2 a loss in the large
        answer's bytes holds up the small answers behind it (in some run,
        at least eight of the ten wait 40 ms or more); over HTTP/3 a loss
        delays only the stream it hit (in no run do half of them wait).
        """
        problem = missing()
        if problem is not None:
            raise SkipTest(problem)
        folder = Path(self.mktemp())
        folder.mkdir()
        key, certificate = selfSigned(folder)
        pages = largePage(folder, 256 * 1024)
        namespace = LossyNamespace(10, fromPorts=(8080, 8443))
        self.addCleanup(namespace.close)
        server = ServerProcess(
            namespace.command(*helloCommand(
                "--listen", "tcp:8080:interface=127.0.0.1",
                "--listen", f"ssl:8443:interface=127.0.0.1:privateKey={key}:certKey={certificate}",
                "--http3", "--pages", str(pages), "--no-access-log",
            )),
            env=checkoutEnvironment(),
        )  # fmt: skip
        self.addCleanup(server.stop)
        server.waitFor("serving on")
        waited: dict[str, list[int]] = {"h2": [], "h3": []}
        for _ in range(2):  # twenty runs, or forty for a loss to hit HTTP/2
            found = namespace.timelines(PYTHON, 8080, 8443, 20)
            for protocol, runs in found.items():
                waited[protocol] += [
                    sum(1 for stream in run[1:] if stream["ended"] >= 0.040)
                    for run in runs
                ]
            if max(waited["h2"]) >= 8:
                break
        self.assertGreaterEqual(max(waited["h2"]), 8, waited)
        self.assertLess(max(waited["h3"]), 5, waited)
