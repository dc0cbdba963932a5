"""
Sphinx configuration of hello_service's documentation.  Build it with:

    .venv/bin/pip install -e '.[docs]' && .venv/bin/sphinx-build -W -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from sphinx.errors import SphinxError

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).parent / "_ext")]

from hello_figures import prolog  # noqa: E402

from hello_service import __version__  # noqa: E402

project = "hello_service"
author = "the hello_service developers"
copyright = "2026, " + author
version = release = __version__

extensions = ["hello_options"]
# Figures quoted in the prose come from what the benchmarks wrote
# (docs/_ext/hello_figures.py), never typed by hand.
rst_prolog = prolog()
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_title = f"hello_service {release}"
# Readers copy commands from these pages: "--workers" must stay two
# hyphens and quotes must stay straight, in prose and tables alike.
smartquotes = False
# Wide tables scroll and long command lines wrap, instead of being cut at
# the page's edge (docs/_static/readable.css).
html_theme_options = {"page_width": "1100px", "sidebar_width": "220px"}
html_static_path = ["_static"]
# The lesson's interactive page, published at the site's root beside the
# tutorial that links to it (benchmarks/lessonpage.py writes it).
html_extra_path = ["../benchmarks/results/lesson.html"]
html_css_files = ["readable.css"]


def apiReference(app: Any, exception: Exception | None) -> None:
    """
    Write the API reference into the HTML output's C{api/} folder, by
    pydoctor from the epytext docstrings (as Twisted builds its own); any
    pydoctor warning (an unresolved link, a docstring it cannot parse)
    fails the build, as Sphinx's own do under C{-W}.
    """
    if exception is not None or app.builder.format != "html":
        return
    if os.environ.get("HELLO_DOCS_WITHOUT_API"):  # tests/test_docs.py's build
        return
    from pydoctor.driver import main

    status = main(
        [
            "--project-name=hello_service",
            f"--project-version={__version__}",
            "--docformat=epytext",
            f"--html-output={Path(app.outdir) / 'api'}",
            f"--project-base-dir={ROOT}",
            "--quiet",
            "--warnings-as-errors",
            str(ROOT / "hello_service"),
        ]
    )
    if status != 0:
        raise SphinxError(f"pydoctor found problems in the docstrings (exit {status})")


def setup(app: Any) -> None:
    app.connect("build-finished", apiReference)
