"""
The floor of the transport: a bare Twisted Protocol feeding httptools and
answering every request with one preformatted page, on the same transport
as hello, on Twisted's epoll reactor or (with C{hello}) on hello's.
Nothing else: no limits, timers, log or ordering.

    python -m peers.bare_twisted 8085 [hello]
"""

import sys

if sys.argv[2:] == ["hello"]:
    from hello_service.reactor import install

    install()

from httptools import HttpRequestParser
from peers.common import HELLO
from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol

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


if __name__ == "__main__":
    reactor.listenTCP(
        int(sys.argv[1]), Factory.forProtocol(Bare), backlog=4096, interface="127.0.0.1"
    )
    reactor.run()
