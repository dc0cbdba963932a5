"""
A raw RSGI app for granian:

    granian --interface rsgi --http 1 --port 8084 peers.rsgi_app:app
"""

import asyncio
import os

from peers.common import HELLO

SLEEP = float(os.environ.get("HELLO_SLEEP", "1"))
HEADERS = [
    ("content-type", "text/html; charset=utf-8"),
    ("content-length", str(len(HELLO))),
]


async def app(scope, protocol):
    if scope.proto != "http":
        return
    if scope.path == "/sleep":
        await asyncio.sleep(SLEEP)
    protocol.response_bytes(200, HEADERS, HELLO)
