"""
What every peer serves: the hello page shipped with hello_service.
"""

from pathlib import Path

import hello_service

HELLO = (
    Path(hello_service.__file__).parent / "http" / "pages" / "hello.html"
).read_bytes()
NOT_FOUND = (
    Path(hello_service.__file__).parent / "http" / "pages" / "404.html"
).read_bytes()
