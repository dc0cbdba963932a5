"""
The layout's promises, checked: the layers C{docs/design.rst} states are
the layers the imports keep (every module placed once, no import pointing
up), no import cycle (type-only imports included), the HTTP rules are free
of Twisted, the connection holds no HTTP rule and no metrics library, and
no class grows past what one reading holds.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

PACKAGE = Path(__file__).parent.parent / "hello_service"

#: The most lines a class may take: past it, a class holds more than one
#: job, and the part that is a policy of its own belongs in a small object
#: beside it.  The option table (C{tap.Options}: one entry an option, and
#: the docs made from it) is a list, not a job, and stands outside.
LONGEST_CLASS = 350
LISTS = {"tap.Options"}
DESIGN = Path(__file__).parent.parent / "docs" / "design.rst"

#: The modules that hold HTTP's rules (and the other rules tested with
#: plain data alone: who the client is, how many CPUs, what the status page
#: shows).
FREE_OF_TWISTED = (
    "http.statuslines",
    "http.requests",
    "http.responses",
    "http.dates",
    "http.validators",
    "http.counting",
    "http.pages",
    "http.proxytrust",
    "answers.caching",
    "answers.routes",
    "configuration.cpus",
    "operations.statuspage",
    "http.fieldsections",
    "connection.http2.defences",
)


def packageModules() -> list[str]:
    """
    Every module of the package, by its dotted name within it
    (C{connection.http2.session}), packages' C{__init__} aside.
    """
    return sorted(
        ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for path in PACKAGE.rglob("*.py")
        if path.stem != "__init__"
    )


def imports(module: str) -> set[str]:
    """
    Every name C{module} imports, at run time or for types only.
    """
    tree = ast.parse((PACKAGE / f"{module.replace('.', '/')}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
            if node.module.startswith("hello_service"):
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def ours(module: str) -> set[str]:
    """
    The package's modules C{module} imports (its folders' packages and the
    names imported from a module aside).
    """
    modules = set(packageModules())
    return {
        name.removeprefix("hello_service.")
        for name in imports(module)
        if name.removeprefix("hello_service.") in modules
    }


def rooms() -> str:
    """
    The text of C{docs/design.rst}'s "The rooms" section.
    """
    return DESIGN.read_text().split("The rooms\n", 1)[1].split("\n\n\n", 1)[0]


def folderLayers() -> dict[str, int]:
    """
    Each folder's layer, as the first table of "The rooms" states it: rows
    of a layer number, then the folder (C{``processes/``}; C{``hello_service/``}
    for the package's own top-level modules, named C{""} here).
    """
    table = rooms().split("\n.. list-table::", 2)[1]
    layers: dict[str, int] = {}
    for row in table.split("\n   * - ")[2:]:
        layer, folder = row.split("\n     - ")[:2]
        name = re.fullmatch(r"``([\w]+)/``", folder.strip())
        assert name is not None, f"not a folder: {folder!r}"
        layers["" if name.group(1) == "hello_service" else name.group(1)] = int(layer)
    return layers


def documentedModules() -> list[str]:
    """
    The modules the second table of "The rooms" gives a job to, dotted.
    """
    table = rooms().split("\n.. list-table::", 2)[2]
    named = [row.split("\n     - ")[0] for row in table.split("\n   * - ")[2:]]
    return [
        module.replace("/", ".")
        for modules in named
        for module in re.findall(r"``([\w/]+)\.py``", modules)
    ]


def layerOf(module: str, layers: dict[str, int]) -> int:
    """
    A module's layer: its top folder's (C{connection.http2.session} is in
    C{connection/}), or the top-level modules'.
    """
    return layers[module.split(".")[0] if "." in module else ""]


def loadedBy(code: str) -> list[str]:
    """
    The modules a fresh interpreter has loaded once it ran C{code}.
    """
    return subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


class LayoutTests(SynchronousTestCase):
    def test_foldersAreTheLayers(self) -> None:
        """
        Every folder of the package stands in the design page's table of
        layers, and every module imports only modules of its own folder's
        layer or below.
        """
        layers = folderLayers()
        folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
        self.assertEqual(set(layers), folders | {""})
        modules = packageModules()
        upward = [
            f"{module} (layer {layerOf(module, layers)}) imports {imported} "
            f"(layer {layerOf(imported, layers)})"
            for module in modules
            for imported in sorted(ours(module))
            if layerOf(imported, layers) < layerOf(module, layers)
        ]
        self.assertEqual(upward, [])

    def test_everyModuleHasItsJob(self) -> None:
        """
        Every module stands once in the design page's table of jobs.
        """
        documented = documentedModules()
        self.assertEqual(sorted(documented), sorted(set(documented)))
        self.assertEqual(set(documented), set(packageModules()))

    def test_everyModuleNamesItsTests(self) -> None:
        """
        Every module's first line names the test modules that test it
        (C{test-case-name}, which C{trial --testmodule} reads), and each
        of them exists.
        """
        root = PACKAGE.parent
        for module in packageModules():
            path = PACKAGE / f"{module.replace('.', '/')}.py"
            first = path.read_text().split("\n", 1)[0]
            named = re.fullmatch(r"# -\*- test-case-name: ([\w.,]+) -\*-", first)
            self.assertIsNotNone(named, f"{module} names no tests")
            assert named is not None
            for test in named.group(1).split(","):
                testPath = root / f"{test.replace('.', '/')}.py"
                self.assertTrue(testPath.exists(), f"{module} names {test}")

    def test_noImportCycle(self) -> None:
        """
        No module imports, even for types only, one that imports it back
        (through any chain).
        """
        modules = packageModules()
        graph = {module: ours(module) for module in modules}
        done: set[str] = set()

        def visit(module: str, path: tuple[str, ...]) -> None:
            if module in path:
                self.fail("import cycle: " + " -> ".join((*path, module)))
            if module in done:
                return
            for imported in graph.get(module, ()):
                visit(imported, (*path, module))
            done.add(module)

        for module in modules:
            visit(module, ())

    def test_httpRulesFreeOfTwisted(self) -> None:
        """
        The HTTP rules import nothing from Twisted.
        """
        for module in FREE_OF_TWISTED:
            twisted = {name for name in imports(module) if name.startswith("twisted")}
            self.assertEqual(twisted, set(), module)

    def test_protocolOnlyMovesBytes(self) -> None:
        """
        Importing the connection loads neither the caching rules, the route
        table, nor C{prometheus_client}.
        """
        loaded = loadedBy("import hello_service.connection.protocol")
        for module in (
            "hello_service.answers.caching",
            "hello_service.answers.routes",
            "prometheus_client",
        ):
            self.assertNotIn(module, loaded)

    def test_noClassTooLong(self) -> None:
        """
        No class but the option table is over L{LONGEST_CLASS} lines.
        """
        long = []
        for module in packageModules():
            path = PACKAGE / f"{module.replace('.', '/')}.py"
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                    lines = node.end_lineno - node.lineno + 1
                    name = f"{module}.{node.name}"
                    if lines > LONGEST_CLASS and name not in LISTS:
                        long.append(f"{name}: {lines} lines")
        self.assertEqual(long, [])
