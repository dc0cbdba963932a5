"""
The C{hello} twistd plugin: C{twistd -n hello}.
"""

from twisted.application.service import ServiceMaker

hello = ServiceMaker(
    "hello",
    "hello_service.tap",
    "A small, fast HTTP/1.1 hello service on the reactor or a thread pool.",
    "hello",
)
