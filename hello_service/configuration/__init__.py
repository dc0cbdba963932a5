"""
What the options ask for, checked and loaded once: the typed L{config}, the
environment's variables (L{environment}), a refused command line in one
line (L{usageerrors}), listening and binding (L{listening}), the C{ssl:}
listeners' reloadable certificates (L{certificates}), the CPUs
C{--workers auto} counts (L{cpus}) and the recycling policy
(L{recycling}).
"""
