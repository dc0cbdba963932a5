# -*- test-case-name: tests.test_responses -*-
"""
The status lines the service answers with, as they go on the wire.

Both sides of HTTP name them: a refused request carries the status to answer
with (L{hello_service.http.requests.HTTPError}), and a response starts with one.
"""

OK = b"200 OK"
NO_CONTENT = b"204 No Content"
PARTIAL_CONTENT = b"206 Partial Content"
NOT_MODIFIED = b"304 Not Modified"
BAD_REQUEST = b"400 Bad Request"
#: The original's reason phrase, kept.
NOT_FOUND = b"404 NOT FOUND"
METHOD_NOT_ALLOWED = b"405 Method Not Allowed"
REQUEST_TIMEOUT = b"408 Request Timeout"
PRECONDITION_FAILED = b"412 Precondition Failed"
CONTENT_TOO_LARGE = b"413 Content Too Large"
URI_TOO_LONG = b"414 URI Too Long"
RANGE_NOT_SATISFIABLE = b"416 Range Not Satisfiable"
HEADERS_TOO_LARGE = b"431 Request Header Fields Too Large"
INTERNAL_ERROR = b"500 Internal Server Error"
VERSION_NOT_SUPPORTED = b"505 HTTP Version Not Supported"

#: Every status the service can answer with, in order.
ALL = (
    OK,
    NO_CONTENT,
    PARTIAL_CONTENT,
    NOT_MODIFIED,
    BAD_REQUEST,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    REQUEST_TIMEOUT,
    PRECONDITION_FAILED,
    CONTENT_TOO_LARGE,
    URI_TOO_LONG,
    RANGE_NOT_SATISFIABLE,
    HEADERS_TOO_LARGE,
    INTERNAL_ERROR,
    VERSION_NOT_SUPPORTED,
)
