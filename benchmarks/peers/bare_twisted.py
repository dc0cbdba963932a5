"""
The floor of the transport: a bare Twisted Protocol feeding httptools and
answering every request with one preformatted page, on the same transport
as hello, on Twisted's epoll reactor or (with C{hello}) on hello's.
Nothing else: no limits, timers, log or ordering.

    python -m peers.bare_twisted 8085 [hello] [--processes N]

With C{--processes N}, N processes serve the port, each on its own socket
bound with C{SO_REUSEPORT} (as hello's workers are): the floor of what a
second process costs per request, with none of hello's supervision, reports
or log.  The first process binds the sockets, starts the others on them,
and stops them when it is stopped.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys

parser = argparse.ArgumentParser(description="the bare protocol, as a peer")
parser.add_argument("port", type=int)
parser.add_argument("reactor", nargs="?", choices=["hello"])
parser.add_argument("--processes", type=int, default=1)
# A process started by the first, serving the socket it was given.
parser.add_argument("--adopt", type=int, help=argparse.SUPPRESS)
arguments = parser.parse_args()

if arguments.reactor == "hello":
    from hello_service.connection.reactor import install

    install()

from httptools import HttpRequestParser  # noqa: E402 (after the reactor is installed)
from peers.common import HELLO  # noqa: E402 (after the reactor is installed)
from twisted.internet import reactor  # noqa: E402 (after the reactor is installed)
from twisted.internet.protocol import Factory, Protocol  # noqa: E402 (after the reactor is installed)

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
    b"Content-Length: %d\r\n" % len(HELLO)
)
KEEP = HEAD + b"\r\n" + HELLO
CLOSE = HEAD + b"Connection: close\r\n\r\n" + HELLO


class Bare(Protocol):
    def connectionMade(self):
        self.parser = HttpRequestParser(self)

    def dataReceived(self, data):
        self.parser.feed_data(data)

    def on_message_complete(self):
        if self.parser.should_keep_alive():
            self.transport.write(KEEP)
        else:
            self.transport.write(CLOSE)
            self.transport.loseConnection()


def reusePortSocket(port: int) -> socket.socket:
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listening.bind(("127.0.0.1", port))
    listening.listen(4096)
    listening.setblocking(False)
    return listening


def serveAdopted(descriptor: int) -> None:
    reactor.adoptStreamPort(descriptor, socket.AF_INET, Factory.forProtocol(Bare))
    os.close(descriptor)
    reactor.run()


if __name__ == "__main__":
    port = arguments.port
    if arguments.adopt is not None:
        serveAdopted(arguments.adopt)
    elif arguments.processes == 1:
        reactor.listenTCP(
            port, Factory.forProtocol(Bare), backlog=4096, interface="127.0.0.1"
        )
        reactor.run()
    else:
        sockets = [reusePortSocket(port) for _ in range(arguments.processes)]
        others = [
            subprocess.Popen(
                [sys.executable, "-m", "peers.bare_twisted", str(port)]
                + ([arguments.reactor] if arguments.reactor else [])
                + ["--adopt", str(s.fileno())],
                pass_fds=[s.fileno()],
            )
            for s in sockets[1:]
        ]

        def stopOthers() -> None:
            for other in others:
                other.send_signal(signal.SIGTERM)
            for other in others:
                other.wait(timeout=10)

        reactor.addSystemEventTrigger("before", "shutdown", stopOthers)
        for s in sockets[1:]:
            s.close()
        serveAdopted(os.dup(sockets[0].fileno()))
