"""
A raw ASGI app for uvicorn (with httptools):

    uvicorn peers.asgi_app:app --http httptools --port 8083 --backlog 4096
"""

import asyncio
import os

from peers.common import HELLO

SLEEP = float(os.environ.get("HELLO_SLEEP", "1"))
HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", str(len(HELLO)).encode()),
]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/sleep":
        await asyncio.sleep(SLEEP)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": HELLO})
