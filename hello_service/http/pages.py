# -*- test-case-name: tests.test_pages -*-
"""
The two pages the service answers with: the hello page and the 404 page.

The defaults are shipped inside the package; a directory given on the
command line replaces them.  Pages are checked when the service is built, so a
missing or unreadable page is a start-up error, never a 500 at request time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HELLO_PAGE = "hello.html"
NOT_FOUND_PAGE = "404.html"

#: Where the pages shipped with the package live.
DEFAULT_PAGES_DIRECTORY = Path(__file__).parent / "pages"


class PageError(Exception):
    """
    A page cannot be served.  Its message is one line, fit for an operator.
    """


@dataclass(frozen=True)
class Pages:
    """
    The bytes of both pages, read once, the modification time of the hello
    page's file (its Last-Modified), and the directory they came from (the
    parallel path reads them from there again for every request).
    """

    directory: Path
    hello: bytes
    notFound: bytes
    helloModified: float = 0.0


def readPage(directory: Path, name: str) -> bytes:
    """
    Read one page as bytes.

    @raise PageError: if it is missing, not a file or unreadable.
    """
    path = directory / name
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PageError(f"page not found: {path}") from None
    except IsADirectoryError:
        raise PageError(f"page is a directory, not a file: {path}") from None
    except OSError as error:
        raise PageError(f"cannot read page {path}: {error.strerror}") from None


def readPageAndTime(directory: Path, name: str) -> tuple[bytes, float]:
    """
    Read one page, with its file's modification time.

    @raise PageError: as L{readPage}.
    """
    body = readPage(directory, name)
    try:
        modified = (directory / name).stat().st_mtime
    except OSError as error:
        raise PageError(
            f"cannot read page {directory / name}: {error.strerror}"
        ) from None
    return body, modified


def loadPages(directory: Path | str | None = None) -> Pages:
    """
    Load both pages from C{directory}, or the shipped ones when it is C{None}.

    @raise PageError: if the directory or either page cannot be read.
    """
    root = DEFAULT_PAGES_DIRECTORY if directory is None else Path(directory)
    if not root.is_dir():
        raise PageError(f"pages directory not found: {root}")
    hello, helloModified = readPageAndTime(root, HELLO_PAGE)
    return Pages(
        directory=root,
        hello=hello,
        notFound=readPage(root, NOT_FOUND_PAGE),
        helloModified=helloModified,
    )
