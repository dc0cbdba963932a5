"""
The lesson in one picture: the same burst of C{/sleep} requests sent to the
concurrent mode and to the parallel mode, each request drawn as a bar from
the moment it was sent to the moment it was answered.

    .venv/bin/python -m benchmarks.timeline        # writes benchmarks/results/timeline.png
    .venv/bin/python -m benchmarks.timeline --lesson     # the lesson's pictures and page
    .venv/bin/python -m benchmarks.timeline --one-connection   # timeline-http2.png

With the defaults (20 requests, a 1 s delay, 4 threads) all 20 bars of the
concurrent mode end together after one delay, and those of the parallel
mode end in five waves of four.  Each bar shows the request's wait apart
from its work (the delay), so the parallel mode's queue is what one sees.  Both servers are real C{twistd -n hello}
processes of this checkout on 127.0.0.1, stopped by their PID at the end.

With C{--lesson} it runs the lesson's programs instead (C{examples/}, see
L{benchmarks.lessonrun}) and draws, from the times they recorded, one
picture per comparison (C{lesson-waiting.png}, C{lesson-working.png}), each
program a panel on one time axis, and writes the interactive page
C{lesson.html} (L{benchmarks.lessonpage}) and the run itself
(C{lesson.json}).  C{--lesson-from lesson.json} draws them again from a
recorded run.

With C{--one-connection} it draws HTTP/2's lesson: a C{/sleep} (1 s) and
then ten C{/} on one connection, pipelined over HTTP/1.1 (the ten wait for
the sleep: answers leave in order) beside the same eleven as streams of one
HTTP/2 connection (the ten are answered at once).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: python benchmarks/timeline.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import HERE, ServerProcess, checkoutEnvironment, helloCommand

RESULTS = HERE / "results"


def sendBurst(port: int, count: int, timeout: float) -> list[tuple[float, float]]:
    """
    Send C{count} C{GET /sleep} at once, one connection each; each
    request's (sent, answered) times in seconds from the first send.
    """
    request = b"GET /sleep HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    clients = [
        socket.create_connection(("127.0.0.1", port), timeout) for _ in range(count)
    ]
    times: list[tuple[float, float]] = [(0.0, 0.0)] * count
    start = time.monotonic()

    def exchange(index: int, client: socket.socket) -> None:
        sent = time.monotonic() - start
        client.sendall(request)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:40]
        times[index] = (sent, time.monotonic() - start)
        client.close()

    threads = [
        threading.Thread(target=exchange, args=(index, client))
        for index, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return times


def draw(
    panels: list[tuple[str, list[tuple[float, float]]]],
    delay: float,
    output: Path,
    waiting: str = "waiting for a thread",
    title: str = "concurrency on one thread against a pool of threads",
    work: bool = True,
) -> None:
    """
    A bar per request, in two parts: its wait (sent, but its work not yet
    begun: in the parallel mode, queued for a free thread) and its work (the
    delay itself, the last C{delay} seconds before its answer).  With
    C{work} false the whole bar is the wait: where the work ran is not seen
    from the client (stage 1 runs every request's delay in turn, and writes
    no answer until the last is done).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    count = len(panels[0][1])
    width = 11 if len(panels) > 1 else 6.5
    figure, grid = plt.subplots(
        1, len(panels), figsize=(width, 4.8), sharey=True, squeeze=False
    )
    axes = list(grid[0])
    end = max(answered for _, times in panels for _, answered in times)
    for axis, (name, times) in zip(axes, panels, strict=True):
        for index, (sent, answered) in enumerate(times):
            began = max(sent, answered - delay) if work else answered
            axis.barh(index + 1, began - sent, left=sent, height=0.7, color="#d9d9d9")
            axis.barh(
                index + 1, answered - began, left=began, height=0.7, color="#3b7dd8"
            )
        axis.set_title(name)
        axis.set_xlabel("seconds since the burst was sent")
        axis.set_xlim(0, end * 1.05)
        axis.set_xticks(range(int(end) + 2))
        for wave in range(1, int(end / delay) + 1):
            axis.axvline(wave * delay, color="#bbbbbb", linewidth=0.8, zorder=0)
    axes[0].set_ylabel("request")
    axes[0].set_yticks([1, *range(5, count + 1, 5)])
    axes[0].set_ylim(count + 0.7, 0.3)
    handles = [Patch(color="#d9d9d9", label=waiting)]
    if work:
        handles.append(Patch(color="#3b7dd8", label=f"its work: the {delay:g} s delay"))
    axes[-1].legend(handles=handles, loc="upper right")
    heading = f"{count} simultaneous GET /sleep ({delay:g} s each)"
    figure.suptitle(f"{heading}: {title}" if title else heading)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--output", type=Path, default=RESULTS / "timeline.png")
    parser.add_argument(
        "--lesson",
        action="store_true",
        help="run the lesson's programs; draw their pictures and write the page",
    )
    parser.add_argument(
        "--lesson-from",
        type=Path,
        metavar="JSON",
        help="draw the lesson's pictures and page again from a recorded run",
    )
    parser.add_argument(
        "--one-connection",
        action="store_true",
        help="draw HTTP/1.1 pipelining against HTTP/2 streams",
    )
    arguments = parser.parse_args()
    if arguments.lesson or arguments.lesson_from:
        lesson(arguments.lesson_from)
        return
    if arguments.one_connection:
        drawOneConnection()
        return
    modes = [
        ("concurrent (default)", ()),
        (
            f"parallel, --threads {arguments.threads}",
            ("--parallel", "--threads", str(arguments.threads)),
        ),
    ]
    panels = []
    for title, options in modes:
        server = ServerProcess(
            helloCommand(
                "--listen", "tcp:0:interface=127.0.0.1:backlog=1024",
                "--sleep", str(arguments.delay), *options,
            ),
            env=checkoutEnvironment(),
        )  # fmt: skip
        try:
            timeout = arguments.delay * (arguments.count + 2) + 10
            times = sendBurst(server.port(), arguments.count, timeout)
        finally:
            server.stop()
        panels.append((title, times))
        last = max(answered for _, answered in times)
        print(f"{title}: {arguments.count} answered, the last at {last:.2f} s")
    draw(panels, arguments.delay, arguments.output)
    print(f"wrote {arguments.output}")


def oneConnectionHTTP1(port: int, count: int) -> list[float]:
    """
    A C{/sleep} and then C{count} C{/}, pipelined on one HTTP/1.1
    connection: when each answer was whole, in seconds from the send.
    """
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        start = time.monotonic()
        client.sendall(
            b"GET /sleep HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + request * count
        )
        received, done = b"", []
        while len(done) < count + 1:
            received += client.recv(65536)
            while True:
                head, found, rest = received.partition(b"\r\n\r\n")
                if not found:
                    break
                length = int(
                    head.lower().split(b"content-length: ", 1)[1].split(b"\r\n")[0]
                )
                if len(rest) < length:
                    break
                received = rest[length:]
                done.append(time.monotonic() - start)
    return done


def oneConnectionHTTP2(port: int, count: int) -> list[float]:
    """
    The same requests as streams of one HTTP/2 connection (prior
    knowledge): when each stream ended, in the order they were sent.
    """
    from h2.config import H2Configuration
    from h2.connection import H2Connection
    from h2.events import DataReceived, StreamEnded

    connection = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    connection.initiate_connection()
    streams = []
    for path in [b"/sleep"] + [b"/"] * count:
        stream = connection.get_next_available_stream_id()
        connection.send_headers(
            stream, [(b":method", b"GET"), (b":path", path), (b":scheme", b"http"),
                     (b":authority", b"127.0.0.1")], end_stream=True,
        )  # fmt: skip
        streams.append(stream)
    ended: dict[int, float] = {}
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        start = time.monotonic()
        client.sendall(connection.data_to_send())
        while len(ended) < len(streams):
            for event in connection.receive_data(client.recv(65536)):
                if isinstance(event, DataReceived):
                    connection.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                elif isinstance(event, StreamEnded):
                    ended[event.stream_id] = time.monotonic() - start
            client.sendall(connection.data_to_send())
    return [ended[stream] for stream in streams]


def drawOneConnection(count: int = 10, delay: float = 1.0) -> None:
    """
    HTTP/1.1 pipelining against HTTP/2 streams, on one connection each.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    server = ServerProcess(
        helloCommand("--listen", "tcp:0:interface=127.0.0.1", "--sleep", str(delay)),
        env=checkoutEnvironment(),
    )
    try:
        port = server.port()
        panels = [
            (
                "HTTP/1.1, pipelined: answers leave in order",
                oneConnectionHTTP1(port, count),
            ),
            (
                "HTTP/2, streams: none waits for another",
                oneConnectionHTTP2(port, count),
            ),
        ]
    finally:
        server.stop()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=True)
    for axis, (title, answered) in zip(axes, panels, strict=True):
        for index, when in enumerate(answered):
            work = min(when, delay if index == 0 else 0.005)
            axis.barh(index + 1, when - work, left=0, height=0.7, color="#d9d9d9")
            axis.barh(index + 1, work, left=when - work, height=0.7,
                      color="#d8833b" if index == 0 else "#3b7dd8")  # fmt: skip
            if index:  # a few milliseconds: marked, or it would not show
                axis.plot(when, index + 1, "o", color="#3b7dd8", markersize=6)
        axis.set_title(title)
        axis.set_xlabel("seconds since the requests were sent")
        axis.set_xlim(0, delay * 1.3)
        print(f"{title}: the last of the ten at {max(answered[1:]):.3f} s")
    axes[0].set_ylabel("request on the connection")
    axes[0].set_yticks(range(1, count + 2), ["/sleep"] + ["/"] * count)
    axes[0].set_ylim(count + 1.7, 0.3)
    axes[-1].legend(
        handles=[
            Patch(color="#d9d9d9", label="waiting"),
            Patch(color="#d8833b", label=f"/sleep's {delay:g} s"),
            Patch(color="#3b7dd8", label="/ answered"),
        ],
        loc="lower right",
    )
    figure.suptitle(f"A /sleep, then {count} GET / on one connection")
    figure.tight_layout()
    output = RESULTS / "timeline-http2.png"
    figure.savefig(output, dpi=90)
    print(f"wrote {output}")


#: The parts of a lesson bar: from, to, colour, legend.
PARTS = [
    ("sent", "accepted", "#f2e3c6", "sent, not yet accepted"),
    ("accepted", "began", "#d9d9d9", "accepted, waiting"),
    ("began", "ended", "#3b7dd8", "{slow}"),
    ("ended", "answered", "#d9d9d9", None),
    ("answered", "received", "#8fc98f", "answer written, on its way"),
]


def lesson(recorded: Path | None) -> None:
    """
    The lesson's pictures and page, from a new run or a recorded one.
    """
    import tempfile

    from benchmarks.lessonpage import writePage
    from benchmarks.lessonrun import runLesson

    data = RESULTS / "lesson.json"
    if recorded is None:
        with tempfile.TemporaryDirectory() as scratch:
            document = runLesson(Path(scratch))
        data.write_text(json.dumps(document, indent=1) + "\n")
        print(f"wrote {data}")
    else:
        document = json.loads(recorded.read_text())
    end = max(
        request["received"]
        for comparison in document["comparisons"]
        for panel in comparison["panels"]
        for request in panel["requests"]
    )
    for comparison in document["comparisons"]:
        output = RESULTS / f"lesson-{comparison['name']}.png"
        drawComparison(comparison, document["run"], end, output)
        print(f"wrote {output}")
    page = RESULTS / "lesson.html"
    writePage(document, page)
    print(f"wrote {page}")


def drawComparison(
    comparison: dict[str, Any], run: dict[str, str], end: float, output: Path
) -> None:
    """
    One panel per program, on one time axis, a bar per request in the parts
    its record gives: not yet accepted, waiting, its slow part, waiting to
    be written, on its way; and where it ran.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    panels = comparison["panels"]
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(10, 1.55 * len(panels) + 1.1), sharex=True
    )
    for axis, panel in zip(axes, panels, strict=True):
        requests = panel["requests"]
        for row, request in enumerate(requests, start=1):
            for start, stop, colour, _ in PARTS:
                begin, finish = request[start], request[stop]
                if begin is None or finish is None:
                    continue
                axis.barh(row, finish - begin, left=begin, height=0.72, color=colour)
            if request["began"] is None:  # no slow part: waited, then answered
                axis.barh(row, request["answered"] - request["accepted"],
                          left=request["accepted"], height=0.72, color="#d9d9d9")  # fmt: skip
            axis.text(request["received"] + end * 0.008, row, request["where"],
                      va="center", fontsize=7, color="#555555")  # fmt: skip
        axis.set_yticks(
            range(1, len(requests) + 1), [request["request"] for request in requests]
        )
        axis.set_ylim(len(requests) + 0.6, 0.4)
        axis.set_title(panel["title"], fontsize=9, loc="left")
        axis.tick_params(axis="y", labelsize=7)
    axes[-1].set_xlim(0, end * 1.18)
    axes[-1].set_xlabel("seconds since the first request was sent")
    handles = [
        Patch(color=colour, label=label.format(slow=comparison["slow"]))
        for _, _, colour, label in PARTS
        if label
    ]
    figure.legend(handles=handles, loc="lower center", ncol=4, fontsize=8)
    figure.suptitle(
        f"{comparison['title']}\n(recorded {run['date']} at {run['commit']}, "
        f"{run['machine'].split(',')[0]})",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    figure.savefig(output, dpi=90)
    plt.close(figure)


if __name__ == "__main__":
    main()
