"""
The servers measured: hello, and the peers a user would pick instead
(twisted.web, aiohttp, uvicorn, granian, a bare Twisted protocol, nginx),
each as the command that starts it on a given port, and L{Running}, one of
them started for one measurement.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import (
    BIN,
    HERE,
    PYTHON,
    ROOT,
    SERVER_CPU,
    ServerProcess,
    checkoutEnvironment,
    freePort,
    helloCommand,
    listen,
)


@dataclass
class Server:
    """
    A server to measure: C{command(port, sleep, folder)} starts it.
    """

    name: str
    command: Callable[[int, float, Path], list[str]]
    hasSleep: bool = True
    #: A line of the server's output that says it serves (where accepting
    #: connections is not enough: hello's workers start after its sockets).
    readyLine: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def twistd(*arguments: str) -> list[str]:
    """
    C{twistd -n --pidfile= ARGUMENTS} (for C{twistd web}).
    """
    return [str(BIN / "twistd"), "-n", "--pidfile=", *arguments]


def hello(*arguments: str) -> Callable[[int, float, Path], list[str]]:
    """
    The command of C{twistd hello ARGUMENTS} on a given port and delay.
    """
    return lambda port, sleep, folder: helloCommand(
        "--listen", listen(port), "--sleep", str(sleep), *arguments
    )


def nginxCommand(port: int, sleep: float, folder: Path, workers: int = 1) -> list[str]:
    conf = (HERE / "peers" / "nginx.conf").read_text()
    pages = ROOT / "hello_service" / "http" / "pages"
    conf = conf.replace("worker_processes 1;", f"worker_processes {workers};")
    conf = conf.replace("__PORT__", str(port)).replace("__ROOT__", str(pages))
    conf = conf.replace("__TMP__", str(folder))
    (folder / "nginx.conf").write_text(conf)
    return [
        shutil.which("nginx") or "nginx",
        "-c",
        str(folder / "nginx.conf"),
        "-p",
        str(folder),
    ]


def uvicorn(port: int, *extra: str) -> list[str]:
    return [
        PYTHON, "-m", "uvicorn", "peers.asgi_app:app", "--http", "httptools",
        "--loop", "uvloop", "--host", "127.0.0.1", "--port", str(port),
        "--backlog", "4096", *extra,
    ]  # fmt: skip


def granian(port: int, *extra: str) -> list[str]:
    return [
        str(BIN / "granian"), "--interface", "rsgi", "--loop", "uvloop",
        "--http", "1", "--no-ws", "--host", "127.0.0.1", "--port", str(port),
        "--backlog", "4096", *extra, "peers.rsgi_app:app",
    ]  # fmt: skip


#: One core: each server alone on CPU 0.
ONE_CORE = [
    Server("hello", hello()),
    Server("hello --parallel", hello("--parallel")),
    Server(
        "twisted.web",
        lambda port, sleep, folder: twistd(
            "web", "--listen", listen(port), "--class", "peers.twisted_web_app.Root"
        ),
    ),
    Server(
        "aiohttp",
        lambda port, sleep, folder: [PYTHON, "-m", "peers.aiohttp_app", str(port)],
    ),
    Server("uvicorn+httptools", lambda port, sleep, folder: uvicorn(port)),
    Server(
        "uvicorn+httptools --no-access-log",
        lambda port, sleep, folder: uvicorn(port, "--no-access-log"),
    ),
    Server(
        "granian (RSGI, 1 worker)",
        lambda port, sleep, folder: granian(
            port, "--workers", "1", "--runtime-mode", "mt", "--runtime-threads", "2"
        ),
    ),
    Server(
        "hello -r epoll (Twisted's reactor)",
        lambda port, sleep, folder: helloCommand(
            "--listen", listen(port), "--sleep", str(sleep), reactor="epoll"
        ),
    ),
    Server(
        "bare Twisted protocol",
        lambda port, sleep, folder: [PYTHON, "-m", "peers.bare_twisted", str(port)],
        hasSleep=False,
    ),
    Server(
        "bare Twisted protocol, hello's reactor",
        lambda port, sleep, folder: [
            PYTHON,
            "-m",
            "peers.bare_twisted",
            str(port),
            "hello",
        ],
        hasSleep=False,
    ),
    Server("nginx (1 worker, static)", nginxCommand, hasSleep=False),
]


def multiProcessPeers(workers: int) -> list[Server]:
    """
    granian and nginx with C{workers} worker processes.
    """
    plural = "" if workers == 1 else "s"
    return [
        Server(
            f"granian --workers {workers} (RSGI)",
            lambda port, sleep, folder: granian(port, "--workers", str(workers)),
        ),
        Server(
            f"nginx ({workers} worker{plural}, static)",
            lambda port, sleep, folder: nginxCommand(
                port, sleep, folder, workers=workers
            ),
        ),
    ]


#: Every core: hello with one and two workers, and each peer with two and one.
TWO_WORKERS = [
    Server("hello (1 process)", hello()),
    Server("hello --workers 2", hello("--workers", "2"), readyLine=r"with 2 workers"),
    Server(
        "uvicorn --workers 2",
        lambda port, sleep, folder: uvicorn(port, "--workers", "2"),
    ),
    Server(
        "uvicorn --workers 2 --no-access-log",
        lambda port, sleep, folder: uvicorn(port, "--workers", "2", "--no-access-log"),
    ),
    *multiProcessPeers(2),
    # The floor: the bare protocol on hello's reactor, in one process and
    # in two on SO_REUSEPORT sockets as hello's workers are, with none of
    # hello's work: what a second process costs per request by itself.
    *(
        Server(
            f"bare protocol, hello's reactor ({count} process{plural})",
            lambda port, sleep, folder, count=count: [
                PYTHON,
                "-m",
                "peers.bare_twisted",
                str(port),
                "hello",
                "--processes",
                str(count),
            ],
            hasSleep=False,
        )
        for count, plural in ((2, "es"), (1, ""))
    ),
    # The peers with one worker, under the same load: what a second worker
    # does to their requests per CPU-second, beside what it does to hello's.
    *multiProcessPeers(1),
]


def available(servers: list[Server]) -> list[Server]:
    """
    The servers that can run here: nginx only where it is installed.
    """
    return [
        s for s in servers if not s.name.startswith("nginx") or shutil.which("nginx")
    ]


class Running:
    """
    One server, started on a free port for one measurement (pinned to
    L{SERVER_CPU} when C{pinned}) and stopped by its PID after it.
    """

    def __init__(self, server: Server, sleep: float = 1.0, pinned: bool = True) -> None:
        self.server = server
        self.port = freePort()
        self.folder = Path(tempfile.mkdtemp(prefix="hello-bench-"))
        environment = checkoutEnvironment(HELLO_SLEEP=str(sleep), **server.env)
        environment["PYTHONPATH"] += os.pathsep + str(HERE)  # the peers' apps
        self.process = ServerProcess(
            server.command(self.port, sleep, self.folder),
            cpu=SERVER_CPU if pinned else None,
            env=environment,
            cwd=self.folder,
        )
        try:
            self.process.waitForPort(self.port)
            if server.readyLine is not None:
                self.process.waitFor(server.readyLine)
        except AssertionError:
            self.stop()
            raise
        time.sleep(0.5)

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
