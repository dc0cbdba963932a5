"""
Exercise 2's solution: stage 1 made concurrent by changing one line of its
loop.  C{Deferred.fromCoroutine} starts a connection's handling and returns
at once; not awaiting it lets the loop take the next connection while this
one waits on its timer.  That is C{for_each_concurrent} with no limit: four
simultaneous C{/sleep} take one delay.  (Stage 2's C{--limit} adds the
bound back.)

    python examples/solutions/serial_made_concurrent.py --port 7878 --sleep 5
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # lesson.py

from lesson import Incoming, announce, options  # noqa: E402
from stage1_serial import handleConnection  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402
from twisted.internet.task import react  # noqa: E402


async def serve(reactor: Any, incoming: Incoming, sleep: float) -> None:
    while True:
        connection = await incoming.next()
        # Started, and not awaited: the loop goes on at once.
        Deferred.fromCoroutine(handleConnection(reactor, connection, sleep))


def main(reactor: Any, port: int, sleep: float) -> Deferred[None]:
    incoming = Incoming.listen(reactor, port)
    announce(incoming.port, "every connection at once")
    return Deferred.fromCoroutine(serve(reactor, incoming, sleep))


if __name__ == "__main__":
    arguments = options(__doc__.split("\n\n")[0])
    react(main, (arguments.port, arguments.sleep))
