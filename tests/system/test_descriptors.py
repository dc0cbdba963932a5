# -*- test-case-name: tests.test_hygiene -*-
"""
Abandoned connections cost nothing: descriptors, timers, threads and the
log are as they were.  And running out of descriptors is survived.
"""

from __future__ import annotations

import resource
import signal

from twisted.trial.unittest import SynchronousTestCase

from ..support.burst import burst
from ..support.processes import startHello

HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n"


class MoreClientsThanDescriptorsTests(SynchronousTestCase):
    """
    With more clients than descriptors, the server pauses accepting instead
    of failing, warns once, and serves everyone in turn.
    """

    def test_moreClientsThanDescriptors(self) -> None:
        """
        Under a limit of 160 open files, 300 simultaneous C{/sleep} all get
        200: about 60 at a time, the rest waiting in the backlog.
        """

        def limitFiles() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (160, 160))

        process = startHello(
            self, "--sleep", "0.3",
            preexec_fn=limitFiles,
        )  # fmt: skip
        port = process.port()
        result = burst("127.0.0.1", port, "/sleep", 300, deadline=30)
        process.signal(signal.SIGTERM)
        process.wait()
        log = process.output
        self.assertEqual((result.ok, result.failed), (300, 0), log[-2000:])
        self.assertGreater(result.lastAnswer, 1.0)  # several rounds of 0.3 s
        self.assertIn("at most 60 connections, by file descriptor limit", log)
        self.assertEqual(log.count("reach the file descriptor limit"), 1)
        self.assertNotIn("Traceback", log)
        self.assertNotIn("EMFILE", log)


class RaisedDescriptorLimitTests(SynchronousTestCase):
    """
    A server holds a descriptor per client, so it raises its soft limit on
    open files to the hard limit when it starts.
    """

    def test_raisedToHardLimit(self) -> None:
        """
        Started with a soft limit of 200 under a hard one of 400, it counts
        on 400 less its headroom of 100.
        """

        def lowerSoftLimit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (200, 400))

        process = startHello(self, preexec_fn=lowerSoftLimit)
        process.waitFor("at most 300 connections, by file descriptor limit")
        process.signal(signal.SIGTERM)
        process.wait()
