"""
The service as a user installs it, checked against real processes on
127.0.0.1: the first stage of C{.ci/run}.

The test environment installs every extra; a user's C{pip install .} has
none, and a start that needs one (pyOpenSSL, once, for every worker) passes
the whole suite and fails for the user.  So this script makes a fresh
virtualenv, installs the project exactly as the README's run command does
(C{pip install .}, no extras), and from outside the checkout (so nothing
imports its files) checks what a user runs:

  - the README's run command serves C{GET /} with 200;
  - C{--workers 2} serves from two worker processes;
  - it speaks HTTP/2 (a GET in frames, by prior knowledge);
  - the shipped systemd unit's C{ExecStart} (its paths and its C{systemd:}
    listener swapped for this virtualenv, a TCP port and a temporary log
    directory) serves, and C{/ready} on its admin port answers 200;
  - an C{ssl:} listener stops the start with one line and exit status 1;
  - a worker that cannot boot ends the start with one line and exit
    status 1 within a few seconds, C{/ready} never having answered 200;
  - each bad option (unknown, a bad value, a bad C{--listen}, a missing
    pages directory, an access log it cannot write), in one process and
    with C{--workers 2}, is one line on standard error, nothing on
    standard output, exit status 1, within seconds; C{--version} names
    hello_service; C{twistd --help} describes it as HTTP/1.1, HTTP/2 and
    HTTP/3.

Only the standard library: it runs before anything is installed.  Usage:
C{python3 tests/userinstall.py [--project DIR]}; it ends with a line
C{N passed, N failed} and exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The README's address.
README_PORT = 7878

#: Makes workers (only) unable to start: they cannot import the service.
BREAK_WORKERS = """\
import sys
if "hello_service.worker" in sys.orig_argv:
    sys.modules["hello_service.processes.service"] = None
"""

SERVING_WITH_WORKERS = (
    r"serving on tcp:127\.0\.0\.1:(\d+) with (\d+) workers \(pids ([\d, ]+)\)"
)


class Failed(Exception):
    """
    A check failed, for the reason given.
    """


class Server:
    """
    A twistd process and its output (read as it comes, so the pipe never
    fills), stopped by its PID.
    """

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.command = command
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for chunk in iter(lambda: self.process.stdout.read1(65536), b""):  # type: ignore[union-attr]
            self._chunks.append(chunk)

    @property
    def output(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")

    def waitFor(self, pattern: str, seconds: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output)
            if found:
                return found
            if self.process.poll() is not None:
                time.sleep(0.2)
                found = re.search(pattern, self.output)
                if found:
                    return found
                raise Failed(f"ended ({self.process.returncode}) before {pattern!r}")
            time.sleep(0.05)
        raise Failed(f"not seen within {seconds} s: {pattern!r}")

    def stop(self, workers: Sequence[int] = ()) -> None:
        """
        SIGTERM, then SIGKILL if it lingers; any worker left is killed.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(5)
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def get(port: int, path: str = "/", timeout: float = 5) -> tuple[int, bytes]:
    """
    C{GET path} on a new connection: the status and the whole answer.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(
            f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, answer


def waitForStatus(port: int, path: str, seconds: float = 20) -> int:
    deadline = time.monotonic() + seconds
    status = 0
    while time.monotonic() < deadline:
        try:
            status, _ = get(port, path, timeout=2)
        except OSError:
            status = 0
        if status == 200:
            return status
        time.sleep(0.1)
    return status


def workerPids(found: re.Match[str]) -> list[int]:
    return [int(pid) for pid in found.group(3).split(", ")]


class UserInstall:
    """
    A fresh virtualenv with the project installed as the README says, and
    a scratch directory outside the checkout to run it from.
    """

    def __init__(self, project: Path, scratch: Path) -> None:
        self.project = project
        self.scratch = scratch
        self.venv = scratch / "venv"
        self.twistd = str(self.venv / "bin" / "twistd")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self.env = env

    def install(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "venv", str(self.venv)], check=True, env=self.env
        )
        installed = subprocess.run(
            [str(self.venv / "bin" / "pip"), "install", "-q", str(self.project)],
            capture_output=True,
            text=True,
            env=self.env,
        )
        if installed.returncode != 0:
            raise Failed(f"pip install . failed:\n{installed.stderr}")

    def run(self, arguments: list[str], **env: str) -> Server:
        return Server(
            [self.twistd, "-n", "--pidfile=", "hello", *arguments],
            self.scratch,
            {**self.env, **env},
        )

    @contextmanager
    def serving(
        self, arguments: list[str], pattern: str
    ) -> Iterator[tuple[Server, re.Match[str]]]:
        server = self.run(arguments)
        workers: list[int] = []
        try:
            found = server.waitFor(pattern)
            if found.re.groups >= 3:
                workers = workerPids(found)
            yield server, found
        except (Failed, OSError) as failure:
            raise Failed(f"{failure}\n{server.output}") from None
        finally:
            server.stop(workers)


# The checks, each a function of the install.


def readmeRunCommand(install: UserInstall) -> None:
    """
    The README's run command serves GET / with 200.
    """
    readme = (install.project / "README.rst").read_text()
    command = re.search(r"^\s+(python3 -m venv .*twistd -n hello)\s*$", readme, re.M)
    if command is None:
        raise Failed("README.rst has no run command ending in 'twistd -n hello'")
    run = command.group(1).split(" && ")[-1]
    if run != ".venv/bin/twistd -n hello":
        raise Failed(
            f"the README runs {run!r}; this check runs '.venv/bin/twistd -n hello'"
        )
    try:
        socket.create_connection(("127.0.0.1", README_PORT), timeout=1).close()
    except OSError:
        pass
    else:
        raise Failed(f"something already listens on 127.0.0.1:{README_PORT}")
    server = Server([install.twistd, "-n", "hello"], install.scratch, install.env)
    try:
        server.waitFor(rf"serving on tcp:127\.0\.0\.1:{README_PORT}\b")
        status, answer = get(README_PORT)
        if status != 200 or b"<!DOCTYPE html>" not in answer:
            raise Failed(f"GET / answered {answer[:80]!r}")
    except (Failed, OSError) as failure:
        raise Failed(f"{failure}\n{server.output}") from None
    finally:
        server.stop()


def twoWorkers(install: UserInstall) -> None:
    """
    --workers 2 serves, from two worker processes.
    """
    with install.serving(
        ["--workers", "2", "--listen", "tcp:0:interface=127.0.0.1"],
        SERVING_WITH_WORKERS,
    ) as (server, found):
        port, pids = int(found.group(1)), workerPids(found)
        statuses = {get(port)[0] for _ in range(40)}
        if statuses != {200}:
            raise Failed(f"GET / answered {statuses}")
        time.sleep(1.5)  # the access lines reach the main process's log
        served = set(re.findall(r'"GET / HTTP/1\.1" 200 .* pid=(\d+)', server.output))
        if served != {str(pid) for pid in pids}:
            raise Failed(f"answered by {served}, workers are {pids}\n{server.output}")


def http2(install: UserInstall) -> None:
    """
    The plain install speaks HTTP/2 (prior knowledge): GET / in frames.
    """
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # empty SETTINGS
    # HEADERS on stream 1, END_STREAM and END_HEADERS: :method GET, :path /,
    # :scheme http from HPACK's static table, and :authority 127.0.0.1.
    block = b"\x82\x84\x86\x41\x09127.0.0.1"
    headers = len(block).to_bytes(3, "big") + b"\x01\x05\x00\x00\x00\x01" + block
    with install.serving(
        ["--listen", "tcp:0:interface=127.0.0.1"], r"serving on tcp:127\.0\.0\.1:(\d+)"
    ) as (server, found):
        with socket.create_connection(
            ("127.0.0.1", int(found.group(1))), timeout=5
        ) as client:
            client.sendall(preface + settings + headers)
            received = b""
            deadline = time.monotonic() + 5
            while b"</html>" not in received and time.monotonic() < deadline:
                chunk = client.recv(65536)
                if not chunk:
                    break
                received += chunk
        frames, body = received, b""
        statuses = []
        while len(frames) >= 9:
            length = int.from_bytes(frames[:3], "big")
            kind, stream = frames[3], int.from_bytes(frames[5:9], "big") & 0x7FFFFFFF
            payload = frames[9 : 9 + length]
            if kind == 1 and stream == 1:
                statuses.append(payload[:1])
            elif kind == 0 and stream == 1:
                body += payload
            frames = frames[9 + length :]
        if statuses != [b"\x88"] or b"<!DOCTYPE html>" not in body:  # 0x88: :status 200
            raise Failed(f"HTTP/2 answered {received[:200]!r}")


def systemdUnit(install: UserInstall) -> None:
    """
    The shipped unit's ExecStart, as systemd runs it (Type=notify), says
    READY=1 on the notify socket, serves, and its admin port's /ready is 200.
    """
    unit = (install.project / "deploy" / "systemd" / "hello.service").read_text()
    found = re.search(r"^ExecStart=(.*)$", unit, re.M)
    if found is None:
        raise Failed("deploy/systemd/hello.service has no ExecStart=")
    words = shlex.split(found.group(1))
    if not words[0].endswith("/bin/twistd"):
        raise Failed(f"ExecStart runs {words[0]}, not twistd")
    logs = install.scratch / "log-hello"
    logs.mkdir()
    arguments = []
    for word in words[1:]:
        if word.startswith("systemd:"):
            word = "tcp:0:interface=127.0.0.1"  # reported on the serving line
        word = word.replace("/var/log/hello", str(logs))
        arguments.append(word)
    admin = re.search(r"--admin\s+tcp:(\d+)", found.group(1))
    if admin is None:
        raise Failed("the unit serves no --admin tcp: port")
    # Type=notify: systemd waits for READY=1 on the socket it names.
    if not re.search(r"^Type=notify$", unit, re.M):
        raise Failed("the unit is not Type=notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(install.scratch / "notify"))
    notify.settimeout(20)
    env = dict(install.env, NOTIFY_SOCKET=str(install.scratch / "notify"))
    server = Server([install.twistd, *arguments], install.scratch, env)
    try:
        said = notify.recv(4096)
        if not said.startswith(b"READY=1\n"):
            raise Failed(f"the first notification was {said!r}, not READY=1")
        serving = server.waitFor(r"serving on tcp:127\.0\.0\.1:(\d+) with \d+ workers")
        status, answer = get(int(serving.group(1)))
        if status != 200:
            raise Failed(f"GET / answered {answer[:80]!r}")
        ready = waitForStatus(int(admin.group(1)), "/ready", 10)
        if ready != 200:
            raise Failed(f"/ready answered {ready}")
        if not (logs / "access.log").exists():
            raise Failed("no access log in the unit's log directory")
    except (Failed, OSError) as failure:
        raise Failed(f"{failure}\n{server.output}") from None
    finally:
        notify.close()
        pids = re.search(SERVING_WITH_WORKERS, server.output)
        server.stop(workerPids(pids) if pids else [])


def tlsWithoutExtra(install: UserInstall) -> None:
    """
    An ssl: listener, without the tls extra: one line, exit status 1.
    """
    for mode in (["--workers", "1"], ["--workers", "2"]):
        ended = subprocess.run(
            [install.twistd, "-n", "--pidfile=", "hello", *mode,
             "--listen", "ssl:0:privateKey=key.pem:certKey=cert.pem"],
            capture_output=True, text=True, timeout=30, cwd=install.scratch,
            env=install.env,
        )  # fmt: skip
        said = (ended.stdout + ended.stderr).strip().splitlines()
        if (
            ended.returncode != 1
            or len(said) != 1
            or "hello-service[tls]" not in said[0]
        ):
            raise Failed(f"{mode}: exit {ended.returncode}, said {said}")


def http3WithoutExtra(install: UserInstall) -> None:
    """
    --http3 without the http3 extra: one line naming it, exit status 1.
    """
    ended = subprocess.run(
        [install.twistd, "-n", "--pidfile=", "hello", "--http3",
         "--listen", "ssl:0:privateKey=key.pem:certKey=cert.pem"],
        capture_output=True, text=True, timeout=30, cwd=install.scratch,
        env=install.env,
    )  # fmt: skip
    said = (ended.stdout + ended.stderr).strip().splitlines()
    if ended.returncode != 1 or said != [
        "hello: --http3 needs aioquic, which this install lacks "
        "(pip install 'hello-service[http3]')"
    ]:
        raise Failed(f"exit {ended.returncode}, said {said}")


def workerCannotBoot(install: UserInstall) -> None:
    """
    A worker that cannot boot: one line, exit status 1, within a few
    seconds, and /ready never 200 meanwhile.
    """
    site = install.scratch / "broken-workers"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BREAK_WORKERS)
    started = time.monotonic()
    server = install.run(
        ["--workers", "2", "--listen", "tcp:0:interface=127.0.0.1",
         "--admin", "tcp:0:interface=127.0.0.1"],
        PYTHONPATH=str(site),
    )  # fmt: skip
    answers = []
    try:
        said = server.waitFor(r"admin site listening on tcp:127\.0\.0\.1:(\d+)")
        admin = int(said.group(1))
        while server.process.poll() is None and time.monotonic() - started < 15:
            try:
                answers.append(get(admin, "/ready", timeout=1)[0])
            except OSError:
                pass
            time.sleep(0.05)
        took = time.monotonic() - started
        if server.process.poll() is None:
            raise Failed("still running after 15 s")
        server.stop()
        critical = [line for line in server.output.splitlines() if "#critical]" in line]
        if server.process.returncode != 1 or len(critical) != 1:
            raise Failed(f"exit {server.process.returncode}, critical lines {critical}")
        if "could not start: ModuleNotFoundError" not in critical[0]:
            raise Failed(f"the line says {critical[0]!r}")
        if "Traceback" in server.output or 200 in answers:
            raise Failed("a traceback was relayed, or /ready answered 200")
        if took > 10:
            raise Failed(f"took {took:.1f} s")
    except (Failed, OSError) as failure:
        raise Failed(f"{failure}\n{server.output}") from None
    finally:
        server.stop()


#: Bad command lines and the one line each must say (after C{hello: }).
BAD_OPTIONS = [
    (["--slep", "1"], "--slep: no such option (did you mean --sleep?)"),
    (["--sleep=soon"], "--sleep: 'soon' is not a number of seconds (0 or more)"),
    (["--workers", "0"], "--workers: '0' is not a whole number (1 or more) or 'auto'"),
    (
        ["--listen", "tcp:notaport"],
        "--listen: 'tcp:notaport': port 'notaport' is not a number from 0 to 65535",
    ),
    (
        ["--pages", "/nonexistent"],
        "--pages: pages directory not found: /nonexistent "
        "(a directory holding hello.html and 404.html)",
    ),
    (
        ["--access-log", "/proc/nope/x"],
        "--access-log: cannot write /proc/nope/x: No such file or directory",
    ),
]


def firstMinute(install: UserInstall) -> None:
    """
    Bad options are one line each; --version and twistd --help name hello.
    """
    for mode in ([], ["--workers", "2"]):
        for arguments, line in BAD_OPTIONS:
            began = time.monotonic()
            ended = subprocess.run(
                [install.twistd, "-n", "--pidfile=", "hello", *mode, *arguments],
                capture_output=True, text=True, timeout=30, cwd=install.scratch,
                env=install.env,
            )  # fmt: skip
            took = time.monotonic() - began
            said = ended.stderr.splitlines()
            if (
                ended.returncode != 1
                or ended.stdout
                or said != [f"hello: {line}"]
                or took > 10
            ):
                raise Failed(
                    f"{mode + arguments}: exit {ended.returncode} in {took:.1f} s, "
                    f"stdout {ended.stdout[:200]!r}, stderr {said}"
                )
    version = subprocess.run(
        [install.twistd, "-n", "hello", "--version"],
        capture_output=True, text=True, timeout=30, cwd=install.scratch,
        env=install.env,
    )  # fmt: skip
    if not re.fullmatch(
        r"hello_service \S+ \(Twisted \S+, Python \S+\)\n", version.stdout
    ):
        raise Failed(f"--version said {version.stdout!r}")
    listing = subprocess.run(
        [install.twistd, "--help"],
        capture_output=True, text=True, timeout=30, cwd=install.scratch,
        env=install.env,
    )  # fmt: skip
    if "HTTP/1.1, HTTP/2 and HTTP/3" not in listing.stdout:
        raise Failed(
            "twistd --help does not describe hello as HTTP/1.1, HTTP/2 and HTTP/3"
        )


CHECKS: list[Callable[[UserInstall], None]] = [
    firstMinute,
    readmeRunCommand,
    twoWorkers,
    http2,
    systemdUnit,
    tlsWithoutExtra,
    http3WithoutExtra,
    workerCannotBoot,
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--project", type=Path, default=ROOT, help="the checkout to install"
    )
    project = parser.parse_args().project.resolve()
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="hello-user-") as scratch:
        install = UserInstall(project, Path(scratch))
        began = time.monotonic()
        install.install()
        print(
            f"installed with 'pip install .' (no extras) in {time.monotonic() - began:.1f} s"
        )
        for check in CHECKS:
            began = time.monotonic()
            try:
                check(install)
            except (Failed, OSError) as failure:
                failed += 1
                print(
                    f"FAIL {check.__name__}: {' '.join((check.__doc__ or '').split())}\n     {failure}"
                )
            else:
                passed += 1
                print(
                    f"ok   {check.__name__} ({time.monotonic() - began:.1f} s): {' '.join((check.__doc__ or '').split())}"
                )
            sys.stdout.flush()
    print(f"user install: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
