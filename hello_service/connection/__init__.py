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
  - L{http2}: the HTTP/2 session, its header blocks and defences;
  - L{http3}: the HTTP/3 session of one QUIC connection, and the UDP
    endpoint that carries every QUIC connection of a port.

HTTP/3 is the third session beside these two; its connection is a QUIC
connection, not a transport, and ends in the ways QUIC has.
"""
