"""
aiohttp, as its documentation runs it: python -m peers.aiohttp_app PORT
"""

import asyncio
import os
import sys

from aiohttp import web
from peers.common import HELLO

SLEEP = float(os.environ.get("HELLO_SLEEP", "1"))


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=HELLO, content_type="text/html", charset="utf-8")


async def sleep(request: web.Request) -> web.Response:
    await asyncio.sleep(SLEEP)
    return web.Response(body=HELLO, content_type="text/html", charset="utf-8")


app = web.Application()
app.router.add_get("/", hello)
app.router.add_get("/sleep", sleep)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), backlog=4096)
