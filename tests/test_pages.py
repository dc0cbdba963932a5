# -*- test-case-name: tests.test_pages -*-
"""
Loading the pages: the shipped ones, or a directory's.
"""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from hello_service.http.pages import PageError, loadPages


class LoadPagesTests(SynchronousTestCase):
    """
    L{loadPages} reads both pages or says, in one line, why it cannot.
    """

    def test_shipped(self) -> None:
        """
        The shipped pages are HTML and installed with the package.
        """
        pages = loadPages()
        self.assertIn(b"<h1>Hello!</h1>", pages.hello)
        self.assertIn(b"<h1>Oops!</h1>", pages.notFound)

    def test_missingDirectory(self) -> None:
        """
        A directory that does not exist is named in the error.
        """
        with self.assertRaises(PageError) as raised:
            loadPages("/nonexistent/dir")
        self.assertEqual(
            str(raised.exception), "pages directory not found: /nonexistent/dir"
        )

    def test_unreadable(self) -> None:
        """
        A page that cannot be read is an error naming it, not a traceback.
        """
        directory = Path(self.mktemp())
        directory.mkdir()
        (directory / "hello.html").mkdir()
        (directory / "404.html").write_bytes(b"x")
        with self.assertRaises(PageError) as raised:
            loadPages(directory)
        self.assertIn("hello.html", str(raised.exception))
        self.assertNotIn("\n", str(raised.exception))
