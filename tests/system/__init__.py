"""
End-to-end tests: real TCP on 127.0.0.1, real twistd and worker processes,
real peers (HAProxy, REDbot, systemd), each stopped by its PID.  The tests
beside this folder hold the same rules in memory.
"""
