"""
The operator's side, the same in both modes (L{operations}): the signals
(L{signals}), readiness, the drain delay and the admin site
(L{adminendpoint}, L{admin}, L{statuspage}), systemd's notify protocol
(L{notify}), how a process is doing (L{vitals}), and the log namespaces
operators filter on (L{lognames}).
"""
