"""
The layout's promises, checked: the layers C{docs/design.rst} states are
the layers the imports keep (every module placed once, no import pointing
up), no import cycle (type-only imports included), the HTTP rules are free
of Twisted, and the connection holds no HTTP rule and no metrics library.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

PACKAGE = Path(__file__).parent.parent / "hello_service"
DESIGN = Path(__file__).parent.parent / "docs" / "design.rst"

#: The modules that hold HTTP's rules (and the other rules tested with
#: plain data alone: who the client is, how many CPUs, what the status page
#: shows).
FREE_OF_TWISTED = (
    "statuslines",
    "requests",
    "responses",
    "dates",
    "validators",
    "caching",
    "counting",
    "routes",
    "pages",
    "proxytrust",
    "cpus",
    "statuspage",
    "connection.http2.framing",
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
            if node.module == "hello_service":
                found.update(f"hello_service.{a.name}" for a in node.names)
    return found


def ours(module: str) -> set[str]:
    return {
        name.removeprefix("hello_service.")
        for name in imports(module)
        if name.startswith("hello_service.")
    }


def statedLayers() -> dict[str, int]:
    """
    Each module's layer, as the table of C{docs/design.rst}'s "The rooms"
    states it: rows of a layer number, then the modules (C{``name.py``}).
    """
    rooms = DESIGN.read_text().split("The rooms\n", 1)[1].split("\n\n\n", 1)[0]
    layers: dict[str, int] = {}
    for row in rooms.split("\n   * - ")[2:]:
        layer, modules = row.split("\n     - ")[:2]
        for module in re.findall(r"``([\w/]+)\.py``", modules):
            module = module.replace("/", ".")
            if module in layers:
                raise AssertionError(f"{module} stands twice in the design table")
            layers[module] = int(layer.split()[0])
    return layers


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
    def test_layersAsTheDesignStates(self) -> None:
        """
        Every module stands once in the design page's table, and imports
        only modules of its own layer or below.
        """
        layers = statedLayers()
        modules = set(packageModules())
        self.assertEqual(set(layers), modules)
        upward = [
            f"{module} (layer {layers[module]}) imports {imported} (layer {layers[imported]})"
            for module in sorted(modules)
            for imported in sorted(ours(module) - {"__init__"})
            if imported in layers and layers[imported] < layers[module]
        ]
        self.assertEqual(upward, [])

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
            "hello_service.caching",
            "hello_service.routes",
            "prometheus_client",
        ):
            self.assertNotIn(module, loaded)
