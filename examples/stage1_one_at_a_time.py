"""
Stage 1, one at a time: the book's first server, written the way a newcomer
first writes it on Twisted, with the slow work (a blocking sleep) inside
C{dataReceived}.

It shows the problem: C{time.sleep} stops the reactor, the one thread that
runs every connection, so one C{/sleep} holds up everybody.  N simultaneous
C{/sleep} take about N delays, one after another, and the answers leave
in batches: the reactor writes only when it is back in its loop, after
every connection that was ready in that turn has had its sleep.  A
C{GET /} sent meanwhile waits for the batch it lands in.  Never block the reactor: stage 2 waits on a timer instead.

Left out on purpose, here and in stages 2 and 3: parsing (only the request
line of the first read counts; the service parses whole requests with
httptools in C{hello_service/requests.py}), keep-alive and pipelining (one
request per connection; C{hello_service/connection/protocol.py}), and timeouts
(C{hello_service/deadlines.py}).

    python examples/stage1_one_at_a_time.py --port 7878 --sleep 5
"""

from __future__ import annotations

import time
from typing import Any

from lesson import announce, answer, options, route
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import react


class OneAtATime(Protocol):
    transport: Any  # a TCP transport, once connected

    def __init__(self, sleep: float) -> None:
        self.sleep = sleep

    def dataReceived(self, data: bytes) -> None:
        status, page, slow = route(data)
        if slow:
            time.sleep(self.sleep)  # the mistake: the reactor stops here
        self.transport.write(answer(status, page))
        self.transport.loseConnection()


class OneAtATimeFactory(Factory):
    def __init__(self, sleep: float) -> None:
        self.sleep = sleep

    def buildProtocol(self, addr: Any) -> OneAtATime:
        return OneAtATime(self.sleep)


def main(reactor: Any, port: int, sleep: float) -> Deferred[None]:
    listening = reactor.listenTCP(port, OneAtATimeFactory(sleep), 1024, "127.0.0.1")
    announce(listening, "one request at a time")
    return Deferred()  # serve until stopped


if __name__ == "__main__":
    arguments = options(__doc__.split("\n\n")[0])
    react(main, (arguments.port, arguments.sleep))
