# -*- test-case-name: tests.test_http2,tests.system.test_http2 -*-
"""
HTTP/2's room: its header blocks (L{headerblocks}), its bounds against
abuse (L{defences}) and the session that drives the C{h2} state machine
(L{session}).  What is answered is the answer layer's, shared with
HTTP/1.1 (L{hello_service.answers.answers}); a stream's fields are read as
HTTP/3's are (L{hello_service.http.fieldsections}).

Importing this package imports no h2: the connection reads L{PREFACE}
here before it knows whether HTTP/2 is spoken.
"""

#: The client connection preface: a cleartext connection that opens with
#: it speaks HTTP/2 (prior knowledge, RFC 9113 section 3.3).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

#: The version an HTTP/2 request carries, as the access log writes it.
VERSION = b"2.0"
