# -*- test-case-name: tests.test_http3,tests.system.test_http3 -*-
"""
HTTP/3's room (C{--http3}): aioquic's QUIC and HTTP/3 connections as a
server changes them (L{quic}), who may open a connection (L{admission}),
the UDP port that carries every connection (L{endpoint}) and the session
of one connection (L{session}).  What is answered is the answer layer's,
shared with HTTP/1.1 and HTTP/2; the fields are read as HTTP/2's are.

Importing this package imports nothing of aioquic: only C{--http3} does,
and L{settings} is plain data.
"""

#: What C{--http3} needs installed, as the line that refuses it says.
INSTALL = "pip install 'hello-service[http3]'"


def missing() -> str | None:
    """
    Why HTTP/3 cannot be served by this install, in one line, or C{None}.
    """
    try:
        import aioquic  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError as error:
        return f"--http3 needs {error.name}, which this install lacks ({INSTALL})"
    return None
