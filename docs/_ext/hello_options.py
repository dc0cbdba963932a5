"""
A Sphinx directive, C{.. hello-options::}, that writes the options
reference from L{hello_service.tap.Options} itself, so that the reference
and C{twistd hello --help} can never disagree.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.nodes import nested_parse_with_titles


def _text(value: str) -> str:
    """
    Help text as reStructuredText: what would be markup is escaped.
    """
    for special in ("\\", "*", "`", "|", "_"):
        value = value.replace(special, "\\" + special)
    return value


def optionLines() -> list[str]:
    """
    The options of C{twistd hello}, as a reStructuredText definition list:
    each flag and parameter with its default and its help, as C{--help}
    shows them.
    """
    from hello_service.configuration.environment import variablesFor
    from hello_service.tap import DEFAULT_LISTEN, Options

    entries: list[tuple[str, str, str]] = [
        (
            "listen",
            DEFAULT_LISTEN,
            (Options.opt_listen.__doc__ or "").split(" [default")[0],
        )
    ]
    for name, _, default, help, *_ in Options.optParameters:
        entries.append((name, "none" if default is None else str(default), help))
    for name, _, help in Options.optFlags:
        entries.append((name, "off", help.split(" [default")[0]))
    lines = []
    for name, default, help in sorted(entries):
        lines += [
            f"``--{name}``",
            f"    {_text(help)}",
            "",
            f"    Default: ``{default}``.",
            "",
            "    From the environment: "
            + ", or ".join(f"``{variable}``" for variable in variablesFor(name))
            + ".",
            "",
        ]
    return lines


class HelloOptions(Directive):
    """
    C{.. hello-options::}: the options reference, generated.
    """

    has_content = False

    def run(self) -> list[nodes.Node]:
        container = nodes.section()
        nested_parse_with_titles(
            self.state, StringList(optionLines(), "hello-options"), container
        )
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("hello-options", HelloOptions)
    return {"parallel_read_safe": True}
