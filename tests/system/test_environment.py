"""
Options from the environment, as a container platform gives them: a real
C{twistd -n hello} with no option on its command line serves where
C{HELLO_LISTEN} says, with the workers C{WEB_CONCURRENCY} asks for and the
delay C{HELLO_SLEEP} sets; a bad value is one line naming the variable.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time

from twisted.trial.unittest import SynchronousTestCase

from ..support.launching import helloCommand
from ..support.processes import ANY_PORT, HelloProcess, checkoutEnvironment, request

SLEEP = b"GET /sleep HTTP/1.1\r\nHost: env\r\nConnection: close\r\n\r\n"


class EnvironmentTests(SynchronousTestCase):
    def test_servesAsTheVariablesSay(self) -> None:
        """
        No options on the command line: the variables choose the address,
        the workers and the delay.
        """
        process = HelloProcess(
            self,
            env=checkoutEnvironment(
                HELLO_LISTEN=ANY_PORT, WEB_CONCURRENCY="2", HELLO_SLEEP="0.3"
            ),
        )
        port = process.port()
        process.waitFor(r"with 2 workers")
        started = time.monotonic()
        answer = request(port, SLEEP)
        elapsed = time.monotonic() - started
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:60])
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertLess(elapsed, 2.0)
        process.signal(signal.SIGTERM)
        self.assertEqual(process.wait(), -signal.SIGTERM)  # as twistd ends

    def test_commandLineWins(self) -> None:
        process = HelloProcess(
            self, "--listen", ANY_PORT, "--sleep", "0",
            env=checkoutEnvironment(HELLO_LISTEN="tcp:1:interface=127.0.0.1",
                                    HELLO_SLEEP="30"),
        )  # fmt: skip
        port = process.port()
        started = time.monotonic()
        self.assertTrue(request(port, SLEEP).startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertLess(time.monotonic() - started, 2.0)

    def test_badValueIsOneLine(self) -> None:
        result = subprocess.run(
            helloCommand(),
            capture_output=True,
            text=True,
            timeout=30,
            env=checkoutEnvironment(HELLO_MAX_CONNECTIONS="many"),
        )
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 1, output)
        # twistd names itself first ("twistd: ", or "-c -n: " run as here).
        self.assertRegex(
            output.strip().splitlines()[-1],
            r"^[^ ].*: "
            + re.escape(
                "HELLO_MAX_CONNECTIONS (--max-connections): 'many' is not a "
                "whole number (0 or more)"
            )
            + "$",
        )
        self.assertNotIn("Traceback", output)
