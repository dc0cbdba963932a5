"""
The warning, not a stage: the server written the way a newcomer first
writes it on Twisted, with the slow part (a blocking C{time.sleep}) inside
C{dataReceived}.  It is the Rust Book's single-threaded server of its last
chapter, before the async book begins, brought onto a reactor unchanged.

C{time.sleep} stops the reactor, the one thread that runs every
connection, so one C{/sleep} holds up everybody: nothing is accepted, read
or written while it sleeps.  N simultaneous C{/sleep} take about N delays,
one after another, and the answers leave in batches: C{transport.write}
only queues the bytes, and the reactor sends them in its next turn, after
every connection that was ready in this turn has had its sleep.  A
C{GET /} sent meanwhile waits for the batch it lands in.  Stage 1
(C{stage1_serial.py}) waits on a timer instead.

Left out on purpose, here and in every stage: parsing (only the request
line of the first read counts; the service parses whole requests with
httptools in C{hello_service/http/requests.py}), keep-alive and pipelining (one
request per connection; C{hello_service/connection/}), and timeouts
(C{hello_service/connection/deadlines.py}).

    python examples/blocking_sleep.py --port 7878 --sleep 5
"""

from __future__ import annotations

import time
from typing import Any

from lesson import Record, announce, answer, options, route
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import react


class BlockingSleep(Protocol):
    transport: Any  # a TCP transport, once connected

    def __init__(self, sleep: float) -> None:
        self.sleep = sleep

    def connectionMade(self) -> None:
        self.record = Record()

    def dataReceived(self, data: bytes) -> None:
        status, page, slow = route(data)
        if slow:
            self.record.begin()
            time.sleep(self.sleep)  # the mistake: the reactor stops here
            self.record.end()
        self.transport.write(answer(status, page))
        self.transport.loseConnection()
        self.record.answered(data)


class BlockingSleepFactory(Factory):
    def __init__(self, sleep: float) -> None:
        self.sleep = sleep

    def buildProtocol(self, addr: Any) -> BlockingSleep:
        return BlockingSleep(self.sleep)


def main(reactor: Any, port: int, sleep: float) -> Deferred[None]:
    listening = reactor.listenTCP(port, BlockingSleepFactory(sleep), 1024, "127.0.0.1")
    announce(listening, "blocking the reactor in every /sleep")
    return Deferred()  # serve until stopped


if __name__ == "__main__":
    arguments = options(__doc__.split("\n\n")[0])
    react(main, (arguments.port, arguments.sleep))
