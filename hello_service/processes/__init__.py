"""
The process side: one process serving (L{service}), or the supervisor of
C{--workers} (L{supervisor}) with its workers' lives (L{workerprocess}),
its crash policy (L{crashes}), its hang watch (L{hangwatch}), the figures
and reports of a service of workers (L{workerfigures},
L{supervisorreports}), and the contract a worker is started with
(L{handoff}) and adopts its sockets by (L{adopted}).
"""
