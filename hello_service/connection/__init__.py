# -*- test-case-name: tests.test_protocol,tests.test_http2,tests.system.test_closing -*-
"""
One connection and the protocols it may speak, side by side:

  - L{protocol}: the connection (L{protocol.HelloProtocol}), made per
    client by L{protocol.HelloFactory}; it owns the transport, the writer
    and flow control, admission, the deadlines, and every way a connection
    ends, written once for every protocol and transport;
  - L{session}: the typed boundary between a connection and its session
    (L{session.Session}, L{session.Link}), and the one record an answered
    exchange leaves (L{session.ExchangeRecorder});
  - L{http1}: the HTTP/1.1 session;
  - L{http2}: the HTTP/2 session and its framing rules and defences.

A third protocol is a third session beside these two.
"""
