"""
The Twisted user's alternative: a twisted.web Resource tree, run with

    twistd -n web --listen tcp:8081 --class peers.twisted_web_app.Root

GET / answers the page; GET /sleep answers it after SLEEP seconds (env
HELLO_SLEEP, default 1) on a reactor timer.
"""

import os

from peers.common import HELLO
from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

SLEEP = float(os.environ.get("HELLO_SLEEP", "1"))


class Page(Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return HELLO


class Sleep(Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/html; charset=utf-8")

        def answer():
            if not request.finished and not request._disconnected:
                request.write(HELLO)
                request.finish()

        call = reactor.callLater(SLEEP, answer)
        request.notifyFinish().addErrback(lambda _: call.active() and call.cancel())
        return NOT_DONE_YET


class Root(Resource):
    def __init__(self):
        super().__init__()
        self.putChild(b"", Page())
        self.putChild(b"sleep", Sleep())
