"""
The C{hello} twistd plugins: the service (C{twistd -n hello}) and hello's
reactor (C{twistd -r hello}), which C{twistd -n hello} runs on unless
another is named.
"""

from twisted.application.reactors import Reactor
from twisted.application.service import ServiceMaker

hello = ServiceMaker(
    "hello",
    "hello_service.tap",
    "A small, fast HTTP/1.1, HTTP/2 and HTTP/3 hello service on Twisted",
    "hello",
)

helloReactor = Reactor(
    "hello",
    "hello_service.connection.reactor",
    "epoll(4) without a logging context per event (hello_service's default; "
    "Twisted's default where there is no epoll).",
)
