# -*- test-case-name: tests.test_http2,tests.system.test_http2 -*-
"""
HTTP/2's room: its framing rules (L{framing}), its bounds against abuse
(L{defences}) and the session that drives the C{h2} state machine
(L{session}).  What is answered is the answer layer's, shared with
HTTP/1.1 (L{hello_service.answers.answers}); only the framing differs.
"""
