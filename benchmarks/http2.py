"""
HTTP/2 side by side: hello against hypercorn and twisted.web (all three on
the same C{h2} state machine), granian and nginx for information, measured
by C{h2load} (Debian's nghttp2-client) in one run, rounds interleaved.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python -m benchmarks.http2            # about 6 minutes

Each server runs alone on CPU 0 with its defaults (hello with its access
log on), C{h2load} on CPU 1; each scenario is C{GET /} for a few seconds
with 50 connections and 10 streams at once on each (C{-m 10}), and again
with one stream at a time (C{-m 1}), over TLS (ALPN) and in cleartext
(prior knowledge; twisted.web and nginx serve HTTP/2 over TLS only).  It
writes C{benchmarks/results/http2.json} and C{http2.rst}: the median of
the rounds of each figure, requests per second and requests per server
CPU-second.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    BIN,
    HERE,
    PYTHON,
    ROOT,
    cpuSeconds,
    helloCommand,
    interleaved,
    measuredCommit,
    pinned,
    platformLine,
    summary,
)
from benchmarks.servers import Running, Server, twistd

RESULTS = HERE / "results"
CLIENT_CPU = "1"


def certificate(folder: Path) -> tuple[Path, Path]:
    """
    A self-signed key and certificate for 127.0.0.1 (PKCS#8, as granian
    wants it).
    """
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


def nginxHTTP2(port: int, folder: Path, key: Path, cert: Path) -> list[str]:
    conf = (HERE / "peers" / "nginx.conf").read_text()
    conf = conf.replace(
        "listen 127.0.0.1:__PORT__ backlog=4096;",
        f"listen 127.0.0.1:__PORT__ ssl http2 backlog=4096;\n"
        f"        ssl_certificate {cert};\n        ssl_certificate_key {key};",
    )
    conf = conf.replace("__PORT__", str(port))
    conf = conf.replace("__ROOT__", str(ROOT / "hello_service" / "http" / "pages"))
    conf = conf.replace("__TMP__", str(folder))
    (folder / "nginx.conf").write_text(conf)
    return [shutil.which("nginx") or "nginx", "-c", str(folder / "nginx.conf"),
            "-p", str(folder)]  # fmt: skip


def servers(
    key: Path, cert: Path, tls: bool, against: dict[str, Path] | None = None
) -> list[Server]:
    """
    The servers of one transport, each speaking HTTP/2 on it; with
    C{against}, hello as each of those commits too (by its checkout).
    """
    tlsListen = f":privateKey={key}:certKey={cert}"

    def helloOn(port: int, sleep: float, folder: Path) -> list[str]:
        description = (
            f"ssl:{port}:interface=127.0.0.1:backlog=4096{tlsListen}"
            if tls
            else f"tcp:{port}:interface=127.0.0.1:backlog=4096"
        )
        return helloCommand("--listen", description)

    def hypercorn(port: int, sleep: float, folder: Path) -> list[str]:
        extra = ["--certfile", str(cert), "--keyfile", str(key)] if tls else []
        return [PYTHON, "-m", "hypercorn", "peers.asgi_app:app",
                "--bind", f"127.0.0.1:{port}", "--backlog", "4096", *extra]  # fmt: skip

    def granian(port: int, sleep: float, folder: Path) -> list[str]:
        extra = (
            ["--ssl-certificate", str(cert), "--ssl-keyfile", str(key)] if tls else []
        )
        return [str(BIN / "granian"), "--interface", "rsgi", "--loop", "uvloop",
                "--http", "2", "--no-ws", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1", *extra, "peers.rsgi_app:app"]  # fmt: skip

    found = [
        Server("hello", helloOn, readyLine="serving on"),
        *(
            Server(
                f"hello at {commit}",
                helloOn,
                readyLine="serving on",
                env={"PYTHONPATH": str(checkout)},
            )
            for commit, checkout in (against or {}).items()
        ),  # fmt: skip
        Server("hypercorn", hypercorn),
        Server("granian --http 2", granian),
    ]
    if tls:
        found.insert(
            2,
            Server(
                "twisted.web (twisted[http2])",
                lambda port, sleep, folder: twistd(
                    "web",
                    "--listen",
                    f"ssl:{port}:interface=127.0.0.1{tlsListen}",
                    "--class",
                    "peers.twisted_web_app.Root",
                ),  # fmt: skip
            ),
        )
        if shutil.which("nginx"):
            found.append(
                Server(
                    "nginx (1 worker, static)",
                    lambda port, sleep, folder: nginxHTTP2(port, folder, key, cert),
                )  # fmt: skip
            )
    return found


def h2load(url: str, streams: int, seconds: float) -> tuple[float, int, int]:
    """
    C{h2load} for C{seconds}: requests per second, succeeded, failed.
    """
    done = subprocess.run(
        pinned(CLIENT_CPU, [shutil.which("h2load") or "h2load", "-c", "50",
                            "-m", str(streams), "-D", str(int(seconds)),
                            url]),
        capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    rate = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", done.stdout)
    counts = re.search(
        r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed",
        done.stdout,
    )
    if rate is None or counts is None:
        raise RuntimeError(f"h2load said:\n{done.stdout}\n{done.stderr}")
    return float(rate.group(1)), int(counts.group(1)), int(counts.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="COMMIT",
        help="hello as it was at COMMIT too, in the same rounds (an A/B)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="only the servers whose name starts with NAME (hello always)",
    )
    arguments = parser.parse_args()
    if shutil.which("h2load") is None:
        sys.exit("benchmarks.http2: no h2load (Debian: nghttp2-client)")
    folder = Path(tempfile.mkdtemp(prefix="hello-h2-"))
    key, cert = certificate(folder)
    against = {}
    for commit in arguments.against:
        checkout = folder / f"hello-{commit}"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(checkout), commit],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        against[commit] = checkout
    items = [
        (tls, streams, server)
        for tls in (True, False)
        for server in servers(key, cert, tls, against)
        if not arguments.only or server.name.startswith(("hello", *arguments.only))
        for streams in (10, 1)
    ]
    try:
        figures: dict[str, dict[str, list[float]]] = {}
        for round, (tls, streams, server) in interleaved(arguments.rounds, items):
            scenario = f"{'TLS' if tls else 'cleartext'} -m {streams}"
            with Running(server) as running:
                scheme = "https" if tls else "http"
                pids = running.process.pids()
                before = cpuSeconds(pids)
                started = time.monotonic()
                rate, ok, failed = h2load(
                    f"{scheme}://127.0.0.1:{running.port}/", streams, arguments.seconds
                )
                spent = cpuSeconds(pids) - before
                elapsed = time.monotonic() - started
            perCpu = ok / spent if spent > 0 else 0.0
            key_ = f"{server.name} | {scenario}"
            entry = figures.setdefault(key_, {"rps": [], "perCpu": [], "failed": []})
            entry["rps"].append(rate)
            entry["perCpu"].append(perCpu)
            entry["failed"].append(failed)
            print(f"round {round}: {key_}: {rate:,.0f} req/s, {perCpu:,.0f} req/CPU-s "
                  f"({ok} ok, {failed} failed, {elapsed:.1f} s)", flush=True)  # fmt: skip
    finally:
        for checkout in against.values():
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(checkout)],
                cwd=ROOT, capture_output=True,
            )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
    report(figures, arguments)


def report(
    figures: dict[str, dict[str, list[float]]], arguments: argparse.Namespace
) -> None:
    medians = {
        name: {kind: summary(values) for kind, values in entry.items()}
        for name, entry in figures.items()
    }
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = (
        f"Measured {when} at commit {measuredCommit()} on {platformLine()}; "
        f"server on CPU 0, h2load on CPU 1, -c 50, {arguments.seconds:g} s a "
        f"round; median of {arguments.rounds} interleaved rounds (min-max)."
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "http2.json").write_text(
        json.dumps({"measured": head, "figures": figures, "medians": medians}, indent=1)
    )
    lines = [head, "", ".. list-table::", "   :header-rows: 1", "",
             "   * - server", "     - scenario", "     - req/s", "     - req per CPU-s",
             "     - hello's over this (req/s)",
             "     - hello's over this (per CPU-s)"]  # fmt: skip
    for name, entry in medians.items():
        server, scenario = name.split(" | ")
        hello = medians.get(f"hello | {scenario}")
        ratio = (
            f"{hello['rps']['median'] / entry['rps']['median']:.2f}x"
            if hello and entry["rps"]["median"] and server != "hello"
            else ""
        )
        perCpuRatio = (
            f"{hello['perCpu']['median'] / entry['perCpu']['median']:.2f}x"
            if hello and entry["perCpu"]["median"] and server != "hello"
            else ""
        )
        lines += [
            f"   * - {server}", f"     - {scenario}",
            f"     - {entry['rps']['median']:,.0f} ({entry['rps']['min']:,.0f}–{entry['rps']['max']:,.0f})",
            f"     - {entry['perCpu']['median']:,.0f}", f"     - {ratio}",
            f"     - {perCpuRatio}",
        ]  # fmt: skip
    (RESULTS / "http2.rst").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
