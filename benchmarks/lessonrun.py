"""
The lesson's programs run as the tutorial runs them, and what each request
went through recorded: the data behind the tutorial's pictures and its
interactive page.

Each program of C{examples/} runs as a real process on 127.0.0.1 with
C{--record}, so that it writes, for every request, when it was accepted,
when its slow part began and ended, when its answer was written, and on
which thread of which process it ran.  A client sends four simultaneous
slow requests and, 0.05 s later, a C{GET /}, each on a connection of its
own, and notes when it sent each and when each answer was whole.  Every
time is on C{time.monotonic}, which the client and every server process
share, and is kept in seconds from the first send.
"""

from __future__ import annotations

import datetime
import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    HERE,
    ServerProcess,
    checkoutEnvironment,
    measuredCommit,
    platformLine,
)

EXAMPLES = HERE.parent / "examples"

#: The two comparisons the tutorial draws, each on one time axis: what the
#: programs send, and the programs with their options.
COMPARISONS: list[dict[str, Any]] = [
    {
        "name": "waiting",
        "path": "/sleep",
        "slow": "sleeping",
        "title": "four simultaneous GET /sleep (0.5 s), then a GET /",
        "options": ["--sleep", "0.5"],
        "panels": [
            ("blocking_sleep.py: time.sleep on the reactor", "blocking_sleep", []),
            ("stage 1, serial: each connection awaited", "stage1_serial", []),
            ("stage 2, concurrent, --limit 2", "stage2_concurrent", ["--limit", "2"]),
            ("stage 2, concurrent", "stage2_concurrent", []),
        ],
    },
    {
        "name": "working",
        "path": "/work",
        "slow": "working",
        "title": "four simultaneous GET /work (0.4 s of CPU), then a GET /",
        "options": ["--work", "0.4"],
        "panels": [
            ("stage 3 on one reactor", "stage3_parallel", []),
            ("stage 3, --threads 2", "stage3_parallel", ["--threads", "2"]),
            ("stage 3, --threads 2 --gil-free", "stage3_parallel",
             ["--threads", "2", "--gil-free"]),
            ("stage 3, --processes 2", "stage3_parallel", ["--processes", "2"]),
        ],
    },
]  # fmt: skip


def exchange(port: int, path: str, start: float, out: dict[str, Any]) -> None:
    """
    One request on a connection of its own: when it was sent and when its
    answer was whole, in seconds from C{start}.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        out["sent"] = time.monotonic() - start
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        out["received"] = time.monotonic() - start
        out["status"] = answer.split(b"\r\n", 1)[0].decode()


def burst(port: int, path: str, count: int = 4) -> tuple[float, list[dict[str, Any]]]:
    """
    C{count} simultaneous C{GET PATH?n=...} and, 0.05 s later, a C{GET /}:
    the time they started from, and what the client saw of each.
    """
    seen: list[dict[str, Any]] = [
        {"request": f"{path}?n={number + 1}"} for number in range(count)
    ]
    seen.append({"request": f"/?n={count + 1}"})
    start = time.monotonic()
    threads = []
    for index, request in enumerate(seen):
        if index == count:
            time.sleep(0.05)
        thread = threading.Thread(
            target=exchange, args=(port, request["request"], start, request)
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(60)
    return start, seen


def where(record: dict[str, Any], processes: list[int]) -> str:
    """
    Where a request ran, in words: its thread and, when the program runs
    several processes, which of them.
    """
    thread = record["thread"]
    if thread == "MainThread":
        name = "reactor thread"
    else:
        name = f"pool thread {int(thread.rsplit('-', 1)[1]) + 1}"
    if len(processes) > 1:
        return f"process {processes.index(record['process']) + 1}, {name}"
    return name


def runPanel(program: str, options: list[str], path: str, record: Path) -> list[Any]:
    """
    Run one program, send it the burst, and join what the client saw of
    each request with what the server recorded of it.
    """
    record.unlink(missing_ok=True)
    server = ServerProcess(
        [sys.executable, str(EXAMPLES / f"{program}.py"), "--port", "0",
         "--record", str(record), *options],
        env=checkoutEnvironment(),
    )  # fmt: skip
    try:
        port = server.port()
        if "--processes" in options:  # each process says when it serves
            server.waitFor(r"(?s)in process \d+.*in process \d+")
        start, seen = burst(port, path)
    finally:
        server.stop()
    records = {
        line["request"]: line
        for line in map(json.loads, record.read_text().splitlines())
    }
    processes = sorted({line["process"] for line in records.values()})
    requests = []
    for request in seen:
        line = records[request["request"]]

        def relative(name: str, line: dict[str, Any] = line) -> float | None:
            value = line[name]
            return None if value is None else round(value - start, 4)

        requests.append({
            "request": request["request"].split("?")[0],
            "status": request["status"],
            "sent": round(request["sent"], 4),
            "accepted": relative("accepted"),
            "began": relative("began"),
            "ended": relative("ended"),
            "answered": relative("answered"),
            "received": round(request["received"], 4),
            "where": where(line, processes),
        })  # fmt: skip
    return requests


def runLesson(scratch: Path) -> dict[str, Any]:
    """
    Every comparison's programs, run one after another: the document the
    pictures and the page are made from.
    """
    document: dict[str, Any] = {
        "run": {
            "date": datetime.date.today().isoformat(),
            "machine": platformLine(),
            "commit": measuredCommit(("examples",)),
        },
        "comparisons": [],
    }
    for comparison in COMPARISONS:
        panels = []
        for title, program, extra in comparison["panels"]:
            options = [*comparison["options"], *extra]
            for _ in range(5):  # --processes: until both take a share
                requests = runPanel(
                    program, options, comparison["path"], scratch / "record.jsonl"
                )
                if len({request["where"] for request in requests}) > 1 or (
                    "--processes" not in options
                ):
                    break
            command = " ".join([f"examples/{program}.py", *options])
            panels.append({"title": title, "command": command, "requests": requests})
            last = max(request["received"] for request in requests)
            print(f"{command}: the last answer at {last:.2f} s")
        document["comparisons"].append({
            "name": comparison["name"], "title": comparison["title"],
            "slow": comparison["slow"], "panels": panels,
        })  # fmt: skip
    return document
