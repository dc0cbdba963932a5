"""
The deployment files in C{deploy/} are valid and say what the service
does: the alerting rules pass their unit tests and read only series the
service reports; the Kubernetes manifests validate against the Kubernetes
1.34 schemas, probe the admin endpoint, and give a drain its time; the
container image's command is the manifest's, and the files it copies are
enough to build the package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from hello_service.http.counting import RequestCounts
from hello_service.tap import Options

from .support.processes import CHECKOUT
from .test_admin import exposition

DEPLOY = CHECKOUT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
KUBERNETES = DEPLOY / "kubernetes"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"

#: The Kubernetes release whose schemas the manifests are checked against.
KUBERNETES_VERSION = "1.34.0"


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        raise SkipTest("promtool is missing (Debian: prometheus)")
    return subprocess.run(
        [found, *arguments], cwd=PROMETHEUS, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


class PrometheusTests(SynchronousTestCase):
    def test_rulesFireAndStayQuiet(self) -> None:
        """
        C{promtool test rules}: each alert fires for the instance in trouble
        and stays quiet for the healthy one.
        """
        result = promtool("test", "rules", "hello-alerts.test.yml")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_everyRuleTested(self) -> None:
        """
        Every alert of the rules has a unit test.
        """
        rules = set(
            re.findall(r"- alert: (\w+)", (PROMETHEUS / "hello-alerts.yml").read_text())
        )
        tested = set(
            re.findall(
                r"alertname: (\w+)", (PROMETHEUS / "hello-alerts.test.yml").read_text()
            )
        )
        self.assertEqual(rules, tested)
        self.assertGreaterEqual(len(rules), 7)

    def test_configAndRulesCheck(self) -> None:
        result = promtool("check", "config", "prometheus.yml")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_rulesReadReportedSeries(self) -> None:
        """
        Every C{hello_} series a rule reads is one the service reports (with
        workers, where the most series exist): a renamed metric would
        leave an alert that never fires.
        """
        import yaml

        figures = RequestCounts().figures()
        figures["workers"] = {"1": {"lag": 0.0, "residentBytes": 1, "cpuSeconds": 1}}
        figures["certificates"] = {"ssl:443": 2e9}
        text = exposition(figures, restarts={"crashed": 0, "hung": 0, "recycled": 0})
        reported = set(re.findall(r"^(\w+)", text, re.MULTILINE))
        groups = yaml.safe_load((PROMETHEUS / "hello-alerts.yml").read_text())
        read = {
            name
            for group in groups["groups"]
            for rule in group["rules"]
            for name in re.findall(r"\b(hello_\w+)", rule["expr"])
        }
        self.assertTrue(read)
        self.assertEqual(read - reported, set())


def manifests() -> dict[str, Any]:
    """
    The Kubernetes objects of C{deploy/kubernetes/}, by kind.
    """
    import yaml

    objects = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            objects[document["kind"]] = document
    return objects


def containerCommand() -> list[str]:
    """
    The image's command, from the Containerfile's CMD (a JSON array over
    continued lines).
    """
    text = CONTAINERFILE.read_text().replace("\\\n", "")
    found = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert found is not None
    command: list[str] = json.loads(found.group(1))
    return command


class KubernetesTests(SynchronousTestCase):
    def test_validate(self) -> None:
        """
        Each manifest validates, strictly (no unknown field), against the
        schemas of Kubernetes 1.34.
        """
        try:
            import kubernetes_validate
        except ImportError:
            raise SkipTest("kubernetes-validate is missing (PyPI)") from None
        paths = sorted(KUBERNETES.glob("*.yaml"))
        self.assertEqual(
            [p.name for p in paths],
            ["deployment.yaml", "poddisruptionbudget.yaml", "service.yaml"],
        )
        for path in paths:
            errors = kubernetes_validate.validate_file(
                str(path), KUBERNETES_VERSION, strict=True, quiet=True, no_warn=True
            )
            self.assertEqual(errors, 0, path)

    def options(self, container: dict[str, Any]) -> Options:
        """
        The options a container's command and environment give twistd's
        hello, parsed (its endpoints on a fake reactor).
        """
        command = container["command"]
        self.assertEqual(
            command[:4], ["/opt/hello/.venv/bin/twistd", "-n", "--pidfile=", "hello"]
        )
        environ = {v["name"]: v["value"] for v in container.get("env", [])}
        options = Options(reactor=MemoryReactor(), environ=environ)
        options.parseOptions(command[4:])
        return options

    def test_drainFitsTheGracePeriod(self) -> None:
        """
        The pod's grace period outlasts the drain delay and the shutdown
        timeout, with room to spare; the rolling update starts a new pod
        before it stops an old one.
        """
        deployment = manifests()["Deployment"]
        pod = deployment["spec"]["template"]["spec"]
        options = self.options(pod["containers"][0])
        self.assertGreaterEqual(
            pod["terminationGracePeriodSeconds"],
            options["drain-delay"] + options["shutdown-timeout"] + 5,
        )
        # The drain delay outlasts the readiness probe noticing.
        readiness = pod["containers"][0]["readinessProbe"]
        self.assertGreater(
            options["drain-delay"],
            readiness["periodSeconds"] * readiness["failureThreshold"],
        )
        self.assertEqual(
            deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0
        )

    def test_probesOnTheAdminPort(self) -> None:
        """
        Readiness is C{/ready} and liveness C{/live}, on the port the admin
        endpoint listens on; the Service exposes the public port only.
        """
        objects = manifests()
        container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
        options = self.options(container)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        self.assertEqual(ports["admin"], int(options["admin"].split(":")[1]))
        self.assertEqual(ports["http"], int(options["listen"][0].split(":")[1]))
        self.assertEqual(
            container["readinessProbe"]["httpGet"], {"path": "/ready", "port": "admin"}
        )
        self.assertEqual(
            container["livenessProbe"]["httpGet"], {"path": "/live", "port": "admin"}
        )
        self.assertEqual(
            [p["targetPort"] for p in objects["Service"]["spec"]["ports"]], ["http"]
        )

    def test_confined(self) -> None:
        """
        Not root, a read-only root filesystem, no privilege to gain, CPU
        and memory requests and limits (the CPU limit is what --workers
        auto reads), and a disruption budget over the same pods.
        """
        objects = manifests()
        pod = objects["Deployment"]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertTrue(container["securityContext"]["readOnlyRootFilesystem"])
        self.assertFalse(container["securityContext"]["allowPrivilegeEscalation"])
        self.assertEqual(container["securityContext"]["capabilities"]["drop"], ["ALL"])
        for kind in ("requests", "limits"):
            self.assertEqual(set(container["resources"][kind]), {"cpu", "memory"})
        self.assertIn("auto", container["command"])
        self.assertEqual(
            objects["PodDisruptionBudget"]["spec"]["selector"],
            objects["Deployment"]["spec"]["selector"],
        )


class ContainerfileTests(SynchronousTestCase):
    def test_commandIsTheManifests(self) -> None:
        """
        The image runs what the Deployment runs, as user 10001 (the one the
        pod's security context names).
        """
        pod = manifests()["Deployment"]["spec"]["template"]["spec"]
        self.assertEqual(containerCommand(), pod["containers"][0]["command"])
        environ = {v["name"]: v["value"] for v in pod["containers"][0]["env"]}
        found = re.search(r"^ENV (.*)$", CONTAINERFILE.read_text(), re.MULTILINE)
        assert found is not None
        self.assertEqual(dict(v.split("=", 1) for v in found.group(1).split()), environ)
        text = CONTAINERFILE.read_text()
        self.assertIn(f"USER {pod['securityContext']['runAsUser']}:", text)
        self.assertEqual(len(re.findall(r"^FROM ", text, re.MULTILINE)), 2)

    def test_copiedFilesBuildThePackage(self) -> None:
        """
        The files the Containerfile copies are enough to build the package
        (no container engine here: the build stage's copy and pip step,
        done in a directory).
        """
        if "MUTANT_UNDER_TEST" in os.environ:
            raise SkipTest("the package is not built under mutation testing")
        directory = Path(tempfile.mkdtemp(prefix="hello-image-"))
        self.addCleanup(shutil.rmtree, directory, True)
        source = directory / "src"
        source.mkdir()
        for line in re.findall(
            r"^COPY (?!--from)(.+)$", CONTAINERFILE.read_text(), re.MULTILINE
        ):
            *names, destination = line.split()
            for name in names:
                origin = CHECKOUT / name
                target = source / (
                    name if destination.endswith("/") and destination != "./" else name
                )
                if origin.is_dir():
                    shutil.copytree(
                        origin, target, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    shutil.copy(origin, target)
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
             "-q", "-w", str(directory / "wheels"), str(source)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        self.assertEqual(built.returncode, 0, built.stderr[-2000:])
        (wheel,) = (directory / "wheels").glob("hello_service-*.whl")
        import zipfile

        names = zipfile.ZipFile(wheel).namelist()
        self.assertIn("twisted/plugins/hello_plugin.py", names)
        self.assertIn("hello_service/http/pages/hello.html", names)


def loggedNamespaces() -> set[str]:
    """
    Every log namespace the package logs under: each C{Logger(namespace=...)}
    made in a function, and the namespace each class's C{log} really has
    once read (Twisted names a plain C{Logger()} after the class; a
    L{NamedLogger} keeps the one it was given).
    """
    import ast
    import importlib

    from twisted.logger import Logger

    found: set[str] = set()
    package = CHECKOUT / "hello_service"
    for path in package.rglob("*.py"):
        parts = path.relative_to(package).with_suffix("").parts
        module = importlib.import_module(".".join(("hello_service", *parts)))
        for value in vars(module).values():
            if isinstance(value, type) and isinstance(vars(value).get("log"), Logger):
                if value.__module__ == module.__name__:
                    found.add(value.log.namespace)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Logger":
                for keyword in node.keywords:
                    if keyword.arg == "namespace":
                        found.add(ast.literal_eval(keyword.value))
    return found


class LogNamespaceTests(SynchronousTestCase):
    def test_namespacesDocumentedInOnePlace(self) -> None:
        """
        The deploying page's table of log namespaces names exactly those
        the code logs under.
        """
        text = (CHECKOUT / "docs" / "deploying.rst").read_text()
        table = text.split(".. _log-namespaces:", 1)[1].split("\n\n\n", 1)[0]
        documented = set(re.findall(r"^``(hello_service[\w.]*)``", table, re.M))
        self.assertEqual(documented, loggedNamespaces())
