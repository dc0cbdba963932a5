# -*- test-case-name: tests.test_closing -*-
"""
Every way a connection ends, against real processes, as one table over
every endpoint kind (C{tcp:}, C{ssl:} with ALPN C{h2} and C{http/1.1},
C{haproxy:} with a PROXY header, C{unix:}) and both protocols: an orderly
close, a connection error, the idle and header timeouts, a drain on
SIGTERM, and a drain in SIGHUP's rolling restart.  For each, the client
sees the end of its connection within the bound, and under
C{--max-connections 1} a client waiting in the listen backlog is served
next; when the table is done, the process holds no descriptor more than
it did before it.  (A write timeout, which needs a client that stops
reading megabytes of answers, is in the in-memory table,
C{tests.test_closing}.)
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from twisted.trial.unittest import SynchronousTestCase

from ..support.certificates import selfSigned
from ..support.processes import HelloProcess, startHello

#: Short timeouts, so that the table runs in seconds.
IDLE, HEADER, DRAIN_SLACK = 1.0, 1.0, 2.0
#: What a bound may be overrun by on a busy machine.
SLACK = 1.5

#: Every endpoint kind, and for C{ssl:} the protocol ALPN offers.
KINDS = ("tcp", "ssl", "haproxy", "unix")
PROTOCOLS = ("HTTP/1.1", "HTTP/2")

BAD_PING = b"\x00\x00\x07\x06\x00\x00\x00\x00\x00" + b"1234567"
GET_CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
REQUEST_FIELDS = [(":method", "GET"), (":path", "/"), (":scheme", "https"),
                  (":authority", "x")]  # fmt: skip
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
PROXY_HEADER = b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 80\r\n"

SERVING = (
    r"serving on tcp:127\.0\.0\.1:(\d+), ssl:127\.0\.0\.1:(\d+), "
    r"haproxy:tcp:127\.0\.0\.1:(\d+), unix:(\S+?)[ ,]"
)


class Server:
    """
    A hello process listening on every endpoint kind at once.
    """

    def __init__(self, test: SynchronousTestCase, *arguments: str) -> None:
        directory = Path(tempfile.mkdtemp(prefix="hello-closing-"))
        key, certificate = selfSigned(directory)
        self.socketPath = str(directory / "hello.sock")
        self.process: HelloProcess = startHello(
            test,
            "--listen", "tcp:0:interface=127.0.0.1",
            "--listen",
            f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={certificate}",
            "--listen", "haproxy:tcp:0:interface=127.0.0.1",
            "--listen", f"unix:{self.socketPath}",
            "--idle-timeout", str(IDLE),
            "--header-timeout", str(HEADER),
            *arguments,
        )  # fmt: skip
        found = self.process.waitFor(SERVING)
        #: The processes that serve: the workers, if any, else this one.
        self.servers = [self.process.pid]
        if "--workers" in arguments:
            pids = self.process.waitFor(r"with \d+ workers \(pids ([\d, ]+)\)")
            self.servers = [int(pid) for pid in pids.group(1).split(", ")]
        self.ports = {
            "tcp": int(found.group(1)),
            "ssl": int(found.group(2)),
            "haproxy": int(found.group(3)),
        }

    def dial(self, kind: str, protocol: str) -> socket.socket:
        """
        A client connection of C{kind}, ready to speak C{protocol}.
        """
        if kind == "unix":
            client = socket.socket(socket.AF_UNIX)
            client.settimeout(10)
            client.connect(self.socketPath)
        else:
            client = socket.create_connection(("127.0.0.1", self.ports[kind]), 10)
        if kind == "haproxy":
            client.sendall(PROXY_HEADER)
        if kind == "ssl":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["h2" if protocol == "HTTP/2" else "http/1.1"])
            # An end without TLS's close alert raises: it is what a
            # truncation looks like, and the server must not send one.
            client = context.wrap_socket(
                client, server_hostname="localhost", suppress_ragged_eofs=False
            )
        return client

    def descriptors(self) -> int:
        """
        The descriptors the serving processes hold.
        """
        return sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in self.servers)

    def settledDescriptors(self) -> int:
        """
        The descriptors the serving processes hold once each reactor runs:
        the start-up line is said before it does, and Twisted opens its
        signal waker's pipe as it starts, later on a busy machine.  One
        request answered on every port proves each process's reactor runs.
        """
        for kind in KINDS:
            client = Client(self, kind, "HTTP/1.1")
            client.served()
            client.close()
        return self._steady()

    def _steady(self, seconds: float = 5) -> int:
        """
        The descriptor count once it has not changed for half a second.
        """
        deadline = time.monotonic() + seconds
        last, since = self.descriptors(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.descriptors()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= 0.5:
                break
        return last


class Client:
    """
    One client of the table: its connection, spoken to in its protocol.
    """

    def __init__(self, server: Server, kind: str, protocol: str) -> None:
        self.connection = server.dial(kind, protocol)
        self.h2: H2Connection | None = None
        if protocol == "HTTP/2":
            self.h2 = H2Connection(H2Configuration(client_side=True))
            self.h2.initiate_connection()
            self.flush()

    def flush(self) -> None:
        assert self.h2 is not None
        self.connection.sendall(self.h2.data_to_send())

    def served(self) -> None:
        """
        Ask for the page once and read the answer: the connection is in
        (past the connection limit) and kept alive.
        """
        if self.h2 is None:
            self.connection.sendall(GET)
            answer = b""
            while not answer.endswith(b"</html>\n"):
                chunk = self.connection.recv(65536)
                assert chunk, f"closed after {answer!r}"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 OK"), answer
            return
        self.stream(REQUEST_FIELDS, "StreamEnded")

    def stream(self, fields: list[tuple[str, str]], until: str) -> Any:
        """
        Send a request of C{fields} on a stream of its own, then read until
        an event named C{until} comes on that stream: that event.
        """
        assert self.h2 is not None
        streamId = self.h2.get_next_available_stream_id()
        self.h2.send_headers(streamId, fields, end_stream=True)
        self.flush()
        while True:
            chunk = self.connection.recv(65536)
            assert chunk, f"closed before {until}"
            found = [
                event
                for event in self.h2.receive_data(chunk)
                if type(event).__name__ == until
                and getattr(event, "stream_id", None) == streamId
            ]
            self.flush()
            if found:
                return found[0]

    def endWithin(self, seconds: float) -> float:
        """
        Read until the server ends the connection (end of file, after TLS's
        close alert over TLS): how long it took.  A reset is a failure: it
        can destroy an answer the client has not read; so is an end without
        the close alert.
        """
        began = time.monotonic()
        self.connection.settimeout(seconds)
        try:
            while self.connection.recv(65536):
                pass
        except ssl.SSLEOFError:
            raise AssertionError("TLS ended without its close alert") from None
        except TimeoutError:
            raise AssertionError(f"still open after {seconds:.1f} s") from None
        except ConnectionResetError:
            raise AssertionError(
                f"reset by the server after {time.monotonic() - began:.2f} s"
            ) from None
        return time.monotonic() - began

    def close(self) -> None:
        self.connection.close()


# The ways, each: what the client does, and the bound on the end.


def orderly(client: Client) -> float:
    if client.h2 is None:
        client.connection.sendall(GET_CLOSE)
    else:
        client.h2.close_connection()
        client.flush()
    return SLACK


def protocolError(client: Client) -> float:
    client.connection.sendall(b"NOT HTTP\r\n\r\n" if client.h2 is None else BAD_PING)
    return SLACK


def idleTimeout(client: Client) -> float:
    return IDLE + SLACK


def headerTimeout(client: Client) -> float:
    if client.h2 is None:
        client.connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        return HEADER + SLACK
    client.h2.send_headers(
        client.h2.get_next_available_stream_id(),
        [
            (":method", "POST"),
            (":path", "/"),
            (":scheme", "https"),
            (":authority", "x"),
        ],
    )
    client.flush()
    return HEADER + IDLE + SLACK


WAYS: dict[str, Callable[[Client], float]] = {
    "orderly": orderly,
    "error": protocolError,
    "idle": idleTimeout,
    "header": headerTimeout,
}


def waitForDescriptors(server: Server, count: int, seconds: float = 5) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = server.descriptors()
        if now <= count:
            return now
        time.sleep(0.05)
    return server.descriptors()


class ClosingTableTests(SynchronousTestCase):
    """
    The table, against one process and against two workers.
    """

    def runTable(self, *arguments: str, waiting: bool) -> None:
        server = Server(self, *arguments)
        before = server.settledDescriptors()
        failures = []
        for way, act in WAYS.items():
            for kind in KINDS:
                for protocol in PROTOCOLS:
                    case = f"{way} over {kind} in {protocol}"
                    client = Client(server, kind, protocol)
                    try:
                        client.served()
                        queued = None
                        if waiting:
                            # Past --max-connections 1: it waits in the
                            # backlog until the case's connection ends.
                            queued = server.dial("tcp", "HTTP/1.1")
                            queued.sendall(GET_CLOSE)
                        took = client.endWithin(act(client))
                        if queued is not None:
                            queued.settimeout(5)
                            answer = queued.recv(65536)
                            queued.close()
                            if not answer.startswith(b"HTTP/1.1 200 OK"):
                                failures.append(
                                    f"{case}: the waiting client got {answer!r}"
                                )
                    except (AssertionError, OSError) as failure:
                        failures.append(f"{case}: {failure}")
                    else:
                        self.assertLess(took, 30, case)
                    finally:
                        client.close()
        self.assertEqual(failures, [])
        self.assertLessEqual(waitForDescriptors(server, before), before)

    def test_oneProcess(self) -> None:
        """
        One process under C{--max-connections 1}: every way ends every
        connection within its bound, a waiting client is served next, and
        no descriptor is left behind.
        """
        self.runTable("--max-connections", "1", waiting=True)

    def test_workers(self) -> None:
        """
        Two workers (whose C{ssl:} and C{haproxy:} layers are added to an
        adopted socket): every way ends every connection within its bound.
        """
        self.runTable("--workers", "2", waiting=False)


class MalformedStreamTests(SynchronousTestCase):
    """
    A malformed HTTP/2 request is a stream error, on every transport.
    """

    def test_everyTransport(self) -> None:
        """
        An upper-case field name: that stream is reset with
        C{PROTOCOL_ERROR}, the connection serves the next request, and it
        still ends at the idle timeout, so that a client sending malformed
        requests holds no place for good.
        """
        server = Server(self)
        before = server.settledDescriptors()
        failures = []
        for kind in KINDS:
            client = Client(server, kind, "HTTP/2")
            self.addCleanup(client.close)
            try:
                self.resetThenServed(client)
                client.endWithin(IDLE + SLACK)
            except (AssertionError, OSError) as failure:
                failures.append(f"{kind}: {failure}")
        self.assertEqual(failures, [])
        self.assertLessEqual(waitForDescriptors(server, before), before)

    def resetThenServed(self, client: Client) -> None:
        h2 = client.h2
        assert h2 is not None
        h2.config.validate_outbound_headers = False
        h2.config.normalize_outbound_headers = False
        reset = client.stream([*REQUEST_FIELDS, ("Accept", "*/*")], "StreamReset")
        assert reset.error_code == ErrorCodes.PROTOCOL_ERROR, reset
        client.served()


class DrainTests(SynchronousTestCase):
    """
    A drain ends every idle connection, on every transport, in each
    protocol.
    """

    def idleClients(self, server: Server) -> list[tuple[str, Client]]:
        clients = []
        for kind in KINDS:
            for protocol in PROTOCOLS:
                client = Client(server, kind, protocol)
                self.addCleanup(client.close)
                client.served()
                clients.append((f"{kind} in {protocol}", client))
        return clients

    def test_sigterm(self) -> None:
        """
        SIGTERM with idle clients on every transport: each sees the end
        within the drain grace, and the process exits within 2 s.
        """
        server = Server(self)
        clients = self.idleClients(server)
        began = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        failures = []
        for case, client in clients:
            try:
                client.endWithin(DRAIN_SLACK)
            except AssertionError as failure:
                failures.append(f"{case}: {failure}")
        self.assertEqual(failures, [])
        server.process.process.wait(timeout=5)
        self.assertLess(time.monotonic() - began, 2.0)

    def test_rollingRestart(self) -> None:
        """
        SIGHUP to two workers: each idle connection of the old workers, on
        every transport, sees the end within the drain grace, and the new
        workers serve.
        """
        server = Server(self, "--workers", "2")
        clients = self.idleClients(server)
        os.kill(server.process.pid, signal.SIGHUP)
        for _case, client in clients:
            client.endWithin(DRAIN_SLACK + 3)
        server.process.waitFor(r"rolling restart done")
        fresh = Client(server, "ssl", "HTTP/2")
        self.addCleanup(fresh.close)
        fresh.served()


class OrderlyCloseTests(SynchronousTestCase):
    """
    An orderly close delivers everything the client was owed, even when
    the client sent more than the server read.
    """

    def test_unreadInputDoesNotReset(self) -> None:
        """
        A request that asks to close, followed at once by 300 KB of
        pipelined requests: the client reads the whole answer to the first
        and then the end of the connection, never a reset.  The client sends
        everything before it reads a byte, so no timing is involved.
        """
        server = Server(self)
        for kind in ("tcp", "haproxy", "unix", "ssl"):
            client = server.dial(kind, "HTTP/1.1")
            self.addCleanup(client.close)
            try:
                client.sendall(GET_CLOSE + GET * (300_000 // len(GET)))
            except OSError as error:
                self.fail(f"{kind}: the server reset while the client sent: {error}")
            client.settimeout(10)
            received = b""
            while chunk := client.recv(65536):
                received += chunk
            self.assertTrue(received.startswith(b"HTTP/1.1 200 OK"), kind)
            self.assertTrue(received.endswith(b"</html>\n"), kind)
            self.assertEqual(received.count(b"HTTP/1.1 "), 1, kind)
