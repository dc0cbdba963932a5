"""
Instructions per request over every process of a server, under callgrind:
one process against C{--workers 2}, the supervisor and both workers
counted together.

    .venv/bin/python -m benchmarks.treecount          # about 5 minutes

C{twistd -n hello} runs under C{valgrind --tool=callgrind
--trace-children=yes}, so each process it starts is counted too; a client
outside valgrind sends keep-alive C{GET /} requests on 10 connections,
then the server is stopped with SIGTERM and each process's count is read
from valgrind's summary.  Two request counts are run and differenced, so
start-up and shutdown cancel; what the supervisor does once a second (the
workers' reports, its timers) counts in proportion to how long the runs
take, as it does under load.  Writes C{benchmarks/results/treecount.json}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if not __package__:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import HERE, checkoutEnvironment, helloCommand, measuredCommit

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def drive(port: int, requests: int, connections: int = 10) -> None:
    """
    C{requests} keep-alive requests over C{connections}, one at a time on
    each, every answer read whole (by its length: all are the hello page).
    """
    clients = [socket.create_connection(("127.0.0.1", port), timeout=60)
               for _ in range(connections)]  # fmt: skip
    answerLength = None
    for index in range(requests):
        client = clients[index % connections]
        client.sendall(REQUEST)
        data = b""
        while answerLength is None or len(data) < answerLength:
            chunk = client.recv(65536)
            if not chunk:
                raise RuntimeError("the server closed a keep-alive connection")
            data += chunk
            if answerLength is None and b"\r\n\r\n" in data:
                head, _, _ = data.partition(b"\r\n\r\n")
                length = re.search(rb"Content-Length: (\d+)", head)
                assert length is not None, head
                answerLength = len(head) + 4 + int(length.group(1))
    for client in clients:
        client.close()


def counted(
    requests: int, workers: int, idle: float = 0.0
) -> tuple[int, int, float, dict[str, int]]:
    """
    The instructions every process of the server ran, summed, how many
    processes that was, how long the requests took (or C{idle} seconds
    without any), and each process's count by its command's role
    (C{main}, C{worker}).
    """
    folder = Path(tempfile.mkdtemp(prefix="hello-treecount-"))
    command = [
        "valgrind", "--tool=callgrind", "--trace-children=yes",
        f"--callgrind-out-file={folder}/callgrind.%p", "--log-file=" + str(folder / "valgrind.%p"),
        *helloCommand("--listen", "tcp:0:interface=127.0.0.1", "--workers", str(workers),
                      "--worker-timeout", "600", "--shutdown-timeout", "60"),
    ]  # fmt: skip
    server = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=checkoutEnvironment(PYTHONHASHSEED="0"),
    )
    assert server.stdout is not None
    output = b""
    deadline = time.monotonic() + 300
    while b"serving on" not in output or (
        workers > 1 and b"workers (pids" not in output
    ):
        line = server.stdout.readline()
        if not line or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"the server did not start:\n{output.decode()}")
        output += line
    port = int(re.search(rb"serving on tcp:127\.0\.0\.1:(\d+)", output).group(1))  # type: ignore[union-attr]
    # The access log goes to standard output: read it, or the server blocks.
    threading.Thread(target=server.stdout.read, daemon=True).start()
    began = time.monotonic()
    if idle:
        time.sleep(idle)
    else:
        drive(port, requests)
    took = time.monotonic() - began
    os.kill(server.pid, signal.SIGTERM)
    server.communicate(timeout=300)
    total = processes = 0
    roles: dict[str, int] = {}
    for log in folder.glob("valgrind.*"):
        text = log.read_text()
        found = re.search(r"Collected : (\d+)", text)
        if found:
            total += int(found.group(1))
            processes += 1
            role = "worker" if "hello_service.worker" in text else "main"
            roles[role] = roles.get(role, 0) + int(found.group(1))
    return total, processes, took, roles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument(
        "--idle", type=float, nargs=2, default=(10.0, 40.0), metavar=("SHORT", "LONG"),
        help="seconds without requests, twice, for the once-a-second work",
    )  # fmt: skip
    arguments = parser.parse_args()
    figures = {}
    for workers in (1, 2):
        small, processes, smallTook, _ = counted(arguments.small, workers)
        large, _, largeTook, roles = counted(arguments.large, workers)
        short, _, shortTook, _ = counted(0, workers, idle=arguments.idle[0])
        long, _, longTook, _ = counted(0, workers, idle=arguments.idle[1])
        requests = arguments.large - arguments.small
        perRequest = (large - small) / requests
        # What the service does once a second whatever the load (timers,
        # the workers' reports), per second of the run: under valgrind a
        # request takes some fifty times as long as on the machine, so the
        # differenced runs charge that work to each request fifty times over.
        perSecond = (long - short) / (longTook - shortTook)
        requestsAlone = (large - small - perSecond * (largeTook - smallTook)) / requests
        figures[f"workers={workers}"] = {
            "perRequest": round(perRequest),
            "perSecond": round(perSecond),
            "perRequestAlone": round(requestsAlone),
            "processes": processes,
            "seconds": [round(smallTook, 1), round(largeTook, 1)],
            "byRole": roles,
        }
        print(f"--workers {workers}: {perRequest:,.0f} instructions per request "
              f"over {processes} processes; {perSecond:,.0f} a second idle; "
              f"{requestsAlone:,.0f} per request less the once-a-second work",
              flush=True)  # fmt: skip
    one, two = figures["workers=1"], figures["workers=2"]
    ratio = two["perRequest"] / one["perRequest"]
    ratioAlone = two["perRequestAlone"] / one["perRequestAlone"]
    print(f"--workers 2 over one process: {ratio:.3f}x as counted, "
          f"{ratioAlone:.3f}x less the once-a-second work")  # fmt: skip
    (HERE / "results" / "treecount.json").write_text(
        json.dumps(
            {"commit": measuredCommit(), "figures": figures, "ratio": round(ratio, 3),
             "ratioAlone": round(ratioAlone, 3),
             "requests": [arguments.small, arguments.large],
             "idle": list(arguments.idle),
             "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
            indent=1,
        ) + "\n"
    )  # fmt: skip


if __name__ == "__main__":
    main()
