# -*- test-case-name: tests.test_fleet -*-
"""
A fleet behind a real HAProxy: three instances, each on a host of its own
(a network namespace with its own address on a bridge), HAProxy in front
with the configuration of C{deploy/haproxy/haproxy.cfg}, and steady,
bounded load through it while instances are stopped, killed, cut off and
replaced.

Needs root, C{ip} (iproute2) and C{haproxy}; without namespaces (not root)
the hosts are 127.0.0.2 to 127.0.0.4 on loopback and a host is cut off by
stopping its process (SIGSTOP) instead of its link.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from ..support.load import SteadyLoad
from ..support.processes import CHECKOUT, HelloProcess
from ..support.waiting import until

CONFIG = CHECKOUT / "deploy" / "haproxy" / "haproxy.cfg"
DRAIN_DELAY = "1.5"  # above HAProxy's inter 300 ms x fall 2


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=30)


class Host:
    """
    One simulated host: an address, and how to run a command there.
    """

    def __init__(self, name: str, address: str, namespace: str | None) -> None:
        self.name = name
        self.address = address
        self.namespace = namespace
        self.link: str | None = None
        self.process: HelloProcess | None = None

    @property
    def wrapper(self) -> list[str]:
        return [] if self.namespace is None else ["ip", "netns", "exec", self.namespace]


class Network:
    """
    Three hosts on a bridge of this machine (198.18.0.0/24, the range set
    aside for benchmark networks), or on loopback addresses.
    """

    def __init__(self, test: SynchronousTestCase) -> None:
        self.hosts: list[Host] = []
        #: A client of the fleet, on a host of its own.
        self.client = Host("client", "127.0.0.5", None)
        #: The address HAProxy reaches the instances from.
        self.proxyAddress = "127.0.0.1"
        tag = f"{os.getpid() % 100000}"
        self.bridge = f"hb{tag}"
        if os.geteuid() == 0 and shutil.which("ip"):
            try:
                self._makeNamespaces(test, tag)
                return
            except subprocess.CalledProcessError as error:
                print(f"fleet test: namespaces failed ({error.stderr!r}); on loopback")
        else:
            print("fleet test: not root: hosts are 127.0.0.2-4 on loopback")
        self.hosts = [Host(f"h{i}", f"127.0.0.{i + 1}", None) for i in (1, 2, 3)]

    def _makeNamespaces(self, test: SynchronousTestCase, tag: str) -> None:
        test.addCleanup(self._remove, tag)
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", "198.18.0.1/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        for i in (1, 2, 3):
            host = self._attach(tag, f"h{i}", f"198.18.0.1{i}")
            self.hosts.append(host)
        self.proxyAddress = "198.18.0.1"
        self.client = self._attach(tag, "c", "198.18.0.20")

    def _attach(self, tag: str, name: str, address: str) -> Host:
        """
        A host of its own on the bridge: a namespace joined to it by a
        veth pair, with C{address}.
        """
        namespace, link = f"hello{tag}{name}", f"hv{tag}{name.lstrip('h')}"
        run("ip", "netns", "add", namespace)
        run("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0",
            "netns", namespace)  # fmt: skip
        run("ip", "link", "set", link, "master", self.bridge, "up")
        inside = ("ip", "netns", "exec", namespace, "ip")
        run(*inside, "addr", "add", f"{address}/24", "dev", "eth0")
        run(*inside, "link", "set", "eth0", "up")
        run(*inside, "link", "set", "lo", "up")
        host = Host(name, address, namespace)
        host.link = link
        return host

    def _remove(self, tag: str) -> None:
        for name in ("h1", "h2", "h3", "c"):
            subprocess.run(
                ["ip", "netns", "del", f"hello{tag}{name}"], capture_output=True
            )
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)

    def cut(self, host: Host) -> str:
        if host.link is not None:
            run("ip", "link", "set", host.link, "down")
            return "link down"
        assert host.process is not None
        host.process.signal(signal.SIGSTOP)
        return "process stopped"

    def restore(self, host: Host) -> None:
        if host.link is not None:
            run("ip", "link", "set", host.link, "up")
        else:
            assert host.process is not None
            host.process.signal(signal.SIGCONT)


def fetch(address: str, port: int, path: str) -> tuple[int, str]:
    with socket.create_connection((address, port), timeout=5) as client:
        client.sendall(
            f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body.decode()


def fetchFrom(client: Host, address: str, port: int, count: int) -> list[int]:
    """
    The statuslines of C{count} requests for C{/} that C{client} sends to
    C{address}, each on a connection of its own, from the client's host.
    """
    script = (
        "import socket, sys\n"
        "for _ in range(int(sys.argv[3])):\n"
        "    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5,"
        " source_address=(sys.argv[4], 0))\n"
        "    c.sendall(b'GET / HTTP/1.1\\r\\nHost: a\\r\\nConnection: close\\r\\n\\r\\n')\n"
        "    a = b''\n"
        "    while b := c.recv(65536): a += b\n"
        "    print(a.split(b' ')[1].decode())\n"
    )
    done = subprocess.run(
        [*client.wrapper, sys.executable, "-c", script,
         address, str(port), str(count), client.address],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return [int(status) for status in done.stdout.split()]


def loggedClients(host: Host) -> list[str]:
    """
    The client of each access line the host's instance has written.
    """
    assert host.process is not None
    return re.findall(r"access#info\] (\S+) ", host.process.output)


def requestsTotal(host: Host) -> int:
    """
    The sum of C{hello_requests_total} on the host's admin endpoint.
    """
    _, body = fetch(host.address, 7879, "/metrics")
    return sum(
        int(float(value))
        for value in re.findall(r"^hello_requests_total\{[^}]*\} (\S+)$", body, re.M)
    )


def _boundTogether(addresses: list[str], tries: int = 5) -> list[socket.socket]:
    """
    A socket bound on each of C{addresses}, all on the one port the kernel
    chose for the first (tried again with another if the others have it
    taken).
    """
    for _ in range(tries):
        first = socket.socket()
        first.bind((addresses[0], 0))
        bound = [first]
        try:
            for address in addresses[1:]:
                other = socket.socket()
                bound.append(other)
                other.bind((address, first.getsockname()[1]))
        except OSError:
            for each in bound:
                each.close()
            continue
        return bound
    raise AssertionError(f"no port free on all of {addresses}")


class HAProxy:
    """
    HAProxy on 127.0.0.1 with the shipped configuration, its servers the
    hosts, and its runtime API on a socket of the test's.
    """

    def __init__(
        self, test: SynchronousTestCase, hosts: list[Host], proxyAddress: str
    ) -> None:
        """
        @param proxyAddress: HAProxy's address on the hosts' network, where
            it is bound too, for a client on that network.
        """
        directory = Path(tempfile.mkdtemp(prefix="hello-haproxy-"))
        test.addCleanup(shutil.rmtree, directory, True)
        # HAProxy listens on sockets bound here, on a port the kernel chose
        # for 127.0.0.1 and the same port on the hosts' network, passed as
        # descriptors (its "bind fd@N"): no port is probed and raced for.
        listening = _boundTogether(list(dict.fromkeys(["127.0.0.1", proxyAddress])))
        self.port = listening[0].getsockname()[1]
        self.statsSocket = directory / "admin.sock"
        config = CONFIG.read_text()
        config = config.replace(
            "bind :80", "\n    ".join(f"bind fd@{s.fileno()}" for s in listening)
        )
        config = config.replace("/run/haproxy/admin.sock", str(self.statsSocket))
        for index, host in enumerate(hosts, 1):
            config = config.replace(f"198.18.0.1{index}:", f"{host.address}:")
        (directory / "haproxy.cfg").write_text(config)
        self.process = subprocess.Popen(
            ["haproxy", "-db", "-f", str(directory / "haproxy.cfg")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=[s.fileno() for s in listening],
        )
        for inherited in listening:
            inherited.close()
        test.addCleanup(self._stop)
        deadline = time.monotonic() + 10
        while not self.statsSocket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                error = self.process.stderr.read() if self.process.stderr else b""
                raise AssertionError(f"haproxy did not start: {error.decode()}")
            time.sleep(0.05)

    def _stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()

    def stats(self) -> dict[str, dict[str, str]]:
        """
        Each server's row of C{show stat}, by server name.
        """
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(5)
            client.connect(str(self.statsSocket))
            client.sendall(b"show stat\n")
            data = b""
            while chunk := client.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        columns = lines[0].lstrip("# ").split(",")
        rows = [
            dict(zip(columns, line.split(","), strict=False))
            for line in lines[1:]
            if line
        ]
        return {
            row["svname"]: row
            for row in rows
            if row.get("pxname") == "hello"
            and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def answered(self, server: str) -> int:
        row = self.stats()[server]
        return sum(int(row[f"hrsp_{n}xx"] or 0) for n in range(1, 6))

    def waitFor(self, server: str, status: str, seconds: float = 15) -> float:
        """
        Wait until HAProxy says C{server} is C{status} (UP, DOWN...); how
        long it took.
        """
        started = time.monotonic()

        def reached() -> bool:
            try:
                return self.stats()[server]["status"].startswith(status)
            except OSError:
                return False

        until(reached, seconds, f"HAProxy says {server} is {status}")
        return time.monotonic() - started


class FleetTests(SynchronousTestCase):
    def setUp(self) -> None:
        if shutil.which("haproxy") is None:
            raise SkipTest("haproxy is missing (Debian: haproxy)")
        if "MUTANT_UNDER_TEST" in os.environ:
            raise SkipTest("real processes are not run under mutation testing")

    def startInstance(self, host: Host) -> HelloProcess:
        process = HelloProcess(
            self,
            "--listen", f"haproxy:tcp:8080:interface={host.address}:backlog=1024",
            "--admin", f"tcp:7879:interface={host.address}",
            "--drain-delay", DRAIN_DELAY,
            wrapper=host.wrapper,
        )  # fmt: skip
        process.waitFor(rf"serving on haproxy:tcp:{re.escape(host.address)}:8080")
        host.process = process
        return process

    def phase(self, load: SteadyLoad, seconds: float) -> tuple[int, int]:
        """
        Let the load run for C{seconds}; the answers and failures meanwhile.
        """
        ok, failed = load.counts()
        time.sleep(seconds)
        okAfter, failedAfter = load.counts()
        return okAfter - ok, failedAfter - failed

    def test_fleet(self) -> None:
        """
        Under steady load through HAProxy: a SIGTERM loses nothing; a
        SIGKILL and a cut link lose at most the requests in flight, then
        nothing; a restored host and a replacement take traffic again; and
        the instances count what HAProxy counts.
        """
        network = Network(self)
        h1, h2, h3 = network.hosts
        for host in network.hosts:
            self.startInstance(host)
        haproxy = HAProxy(self, network.hosts, network.proxyAddress)
        for host in network.hosts:
            haproxy.waitFor(host.name, "UP")
        clients = 4
        with SteadyLoad(haproxy.port, clients=clients, rate=40, seconds=120) as load:
            self.assertEqual(self.phase(load, 1.0)[1], 0, load.result.failures)

            # 1. SIGTERM: /ready turns 503, HAProxy takes it out, then it drains.
            assert h1.process is not None
            h1.process.signal(signal.SIGTERM)
            ok, failed = self.phase(load, float(DRAIN_DELAY) + 1.5)
            self.assertEqual(failed, 0, load.result.failures[-5:])
            self.assertEqual(h1.process.wait(10), -signal.SIGTERM)
            haproxy.waitFor("h1", "DOWN")

            # 4. A replacement: it gets traffic once its checks pass.
            self.startInstance(h1)
            haproxy.waitFor("h1", "UP")
            before = requestsTotal(h1)
            self.assertEqual(self.phase(load, 1.0)[1], 0)
            self.assertGreater(requestsTotal(h1), before)

            # 2. SIGKILL: at most the requests it had in flight fail.
            assert h2.process is not None
            h2.process.signal(signal.SIGKILL)
            ok, failed = self.phase(load, 1.5)
            self.assertLessEqual(failed, clients, load.result.failures[-5:])
            haproxy.waitFor("h2", "DOWN")
            self.assertEqual(self.phase(load, 1.5)[1], 0, load.result.failures[-5:])
            self.startInstance(h2)
            haproxy.waitFor("h2", "UP")

            # 3. A host cut off: bounded failures, then none; back: traffic.
            how = network.cut(h3)
            ok, failed = self.phase(load, 6.0)  # past the clients' 5 s timeout
            self.assertLessEqual(failed, clients, (how, load.result.failures[-5:]))
            haproxy.waitFor("h3", "DOWN")
            self.assertEqual(self.phase(load, 1.5)[1], 0, load.result.failures[-5:])
            network.restore(h3)
            haproxy.waitFor("h3", "UP")
            before = requestsTotal(h3)
            self.phase(load, 1.0)
            self.assertGreater(requestsTotal(h3), before)

        # 5. What the instances count is what HAProxy counts, per server.
        time.sleep(0.5)
        counted = {
            h.name: (haproxy.answered(h.name), requestsTotal(h)) for h in network.hosts
        }
        with SteadyLoad(haproxy.port, clients=clients, rate=40, seconds=2) as final:
            time.sleep(2.5)
        self.assertEqual(final.result.failed, 0, final.result.failures[:5])
        time.sleep(0.5)
        for host in network.hosts:
            haproxyBefore, instanceBefore = counted[host.name]
            self.assertEqual(
                haproxy.answered(host.name) - haproxyBefore,
                requestsTotal(host) - instanceBefore,
                host.name,
            )
        # 6. HAProxy passes each client on (PROXY v2): the instances' access
        # lines name the client's address, never HAProxy's.
        client = network.client
        self.assertEqual(
            fetchFrom(client, network.proxyAddress, haproxy.port, 6), [200] * 6
        )

        def logged() -> list[str]:
            return [name for h in network.hosts for name in loggedClients(h)]

        # The access log is written in batches.
        until(lambda: logged().count(client.address) >= 6, 10, "6 access lines")
        self.assertEqual(logged().count(client.address), 6, set(logged()))
        if h1.namespace:  # on loopback, the load's clients share HAProxy's address
            self.assertNotIn(network.proxyAddress, logged())
        print(
            f"fleet test ({'namespaces' if h1.namespace else 'loopback'}): "
            f"{load.result.ok} answered, {load.result.failed} failed",
            file=sys.stderr,
        )
