"""
From a parsed request to the answer it is owed: the route table
(L{routes}), the two concurrency models (L{responders}), conditional and
range requests (L{caching}), all brought together by L{answers}.
"""
