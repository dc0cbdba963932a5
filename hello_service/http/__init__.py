"""
HTTP's rules as plain data, free of Twisted: requests (L{requests}),
responses (L{responses}), their dates, validators and status lines
(L{dates}, L{validators}, L{statuslines}), what the request path counts
(L{counting}), which proxies to believe (L{proxytrust}), and the pages
(L{pages}).
"""
