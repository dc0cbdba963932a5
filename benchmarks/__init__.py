"""
hello's benchmarks, side by side with the servers a user would pick
instead, on this machine: L{benchmarks.harness} (processes, pinning, ports,
CPU time, the load generators), L{benchmarks.servers} (hello and its peers),
L{benchmarks.report} (tables, targets, chart), and thin entry points:
C{run} (one core), C{workers} (every core), C{timeline} (the picture of the
two concurrency models) and C{hotpath} (instructions per request); the
bounded burst client is C{tests/support/burst.py}.
"""
