"""
Tests for L{hello_service.configuration.usageerrors}: a refused command line in one line
of this project's words.
"""

from __future__ import annotations

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from hello_service.configuration.listening import StartupError
from hello_service.configuration.usageerrors import endpointProblem, reword
from hello_service.tap import Options

KNOWN = ["sleep", "threads", "max-requests", "max-requests-jitter", "parallel"]


class RewordTests(SynchronousTestCase):
    """
    C{getopt}'s messages said for hello.
    """

    def test_unknownWithNearest(self) -> None:
        """
        An unknown option names the nearest known one.
        """
        self.assertEqual(
            reword("option --slep not recognized", KNOWN),
            "--slep: no such option (did you mean --sleep?)",
        )

    def test_unknownWithoutNearest(self) -> None:
        """
        An unknown option with no near name points at C{--help}.
        """
        self.assertEqual(
            reword("option --zzzzzz not recognized", KNOWN),
            "--zzzzzz: no such option (twistd -n hello --help lists them)",
        )

    def test_missingValue(self) -> None:
        """
        An option given without its value says so.
        """
        self.assertEqual(
            reword("option --sleep requires argument", KNOWN),
            "--sleep: needs a value (twistd -n hello --help says which)",
        )

    def test_flagWithValue(self) -> None:
        """
        A switch given a value says it takes none.
        """
        self.assertEqual(
            reword("option --parallel must not have an argument", KNOWN),
            "--parallel: is a switch and takes no value",
        )

    def test_ambiguousPrefix(self) -> None:
        """
        A prefix of several options asks for the whole name.
        """
        self.assertEqual(
            reword("option --max-req not a unique prefix", KNOWN),
            "--max-req: is the start of several options (spell it out)",
        )

    def test_otherMessagesOnOneLine(self) -> None:
        """
        Any other message is kept, its lines joined.
        """
        self.assertEqual(reword("--x: a\n  b", KNOWN), "--x: a b")


class EndpointProblemTests(SynchronousTestCase):
    """
    A bad endpoint description named by the parameter at fault.
    """

    def test_wellFormed(self) -> None:
        """
        Nothing is said of descriptions that are fine before parsing.
        """
        for description in [
            "tcp:8080",
            "tcp:port=0:interface=127.0.0.1:backlog=4096",
            "haproxy:tcp:8080",
            "unix:/run/hello.sock",
            "ssl:8443:privateKey=k.pem",
            "tcp6:8080:interface=\\:\\:1",
            "systemd:domain=INET:index=0",
        ]:
            self.assertEqual(endpointProblem(description), "", description)

    def test_port(self) -> None:
        """
        A port that is not a number from 0 to 65535, or none at all.
        """
        for description, port in [
            ("tcp:notaport", "'notaport'"),
            ("tcp:99999", "'99999'"),
            ("tcp:-1", "'-1'"),
            ("haproxy:ssl:x", "'x'"),
            ("tcp:port=7x", "'7x'"),
        ]:
            self.assertEqual(
                endpointProblem(description),
                f"port {port} is not a number from 0 to 65535",
            )
        self.assertEqual(
            endpointProblem("tcp:"), "port '' is not a number from 0 to 65535"
        )
        self.assertEqual(
            endpointProblem("tcp:interface=127.0.0.1"),
            "no port given (for example tcp:8080)",
        )

    def test_backlog(self) -> None:
        """
        A backlog must be a number of 1 or more.
        """
        self.assertEqual(
            endpointProblem("tcp:80:backlog=0"),
            "backlog '0' is not a number from 1 to 2147483647",
        )

    def test_unknownKind(self) -> None:
        """
        An unknown kind lists the kinds hello serves.
        """
        self.assertEqual(
            endpointProblem("foo:1", ValueError("Unknown endpoint type: 'foo'")),
            "unknown endpoint type 'foo' "
            "(one of tcp, tcp6, ssl, unix, systemd, haproxy:...)",
        )
        self.assertIn("unknown endpoint type ''", endpointProblem(""))

    def test_parserErrors(self) -> None:
        """
        The parser's errors are said without Python's words.
        """
        self.assertEqual(
            endpointProblem(
                "tcp:80:bogus=1",
                TypeError("_parseTCP() got an unexpected keyword argument 'bogus'"),
            ),
            "tcp: has no parameter 'bogus'",
        )
        self.assertEqual(
            endpointProblem(
                "ssl:1", FileNotFoundError(2, "No such file or directory", "/k.pem")
            ),
            "cannot read /k.pem: No such file or directory",
        )
        self.assertEqual(
            endpointProblem(
                "systemd:domain=INET:index=x",
                ValueError("invalid literal for int() with base 10: 'x'"),
            ),
            "'x' is not a whole number",
        )

    def test_noSystemdSocket(self) -> None:
        """
        A C{systemd:} socket that was not passed (started by hand, or by a
        tool that names no descriptor) is said as such, by index or name,
        not as Python's lookup error.
        """
        self.assertEqual(
            endpointProblem(
                "systemd:domain=INET:index=0", IndexError("list index out of range")
            ),
            "systemd passed no socket at index 0 (start it from its .socket "
            "unit, which sets LISTEN_FDS and LISTEN_FDNAMES)",
        )
        self.assertEqual(
            endpointProblem("systemd:domain=INET:name=web", KeyError("web")),
            "systemd passed no socket at name 'web' (start it from its .socket "
            "unit, which sets LISTEN_FDS and LISTEN_FDNAMES)",
        )


class OptionsRefusalTests(SynchronousTestCase):
    """
    L{Options} refuses in one line: a L{UsageError} from code, a one-line
    L{StartupError} (exit status 1) under twistd.
    """

    def test_fromCode(self) -> None:
        """
        Parsed from code, the reworded line is the L{UsageError}'s.
        """
        with self.assertRaises(UsageError) as raised:
            Options(reactor=object(), environ={}).parseOptions(["--slep", "1"])
        self.assertEqual(
            str(raised.exception), "--slep: no such option (did you mean --sleep?)"
        )

    def test_underTwistd(self) -> None:
        """
        As twistd's subcommand, the refusal is a L{StartupError} whose text
        begins with C{hello: }.
        """
        options = Options(reactor=object(), environ={})
        options.parent = Options(reactor=object(), environ={})
        with self.assertRaises(StartupError) as raised:
            options.parseOptions(["--threads", "0"])
        self.assertEqual(
            str(raised.exception),
            "hello: --threads: '0' is not a whole number (1 or more)",
        )
        self.assertEqual(raised.exception.code, raised.exception.args[0])

    def test_environmentVariable(self) -> None:
        """
        A bad variable names itself and its option.
        """
        with self.assertRaises(UsageError) as raised:
            Options(reactor=object(), environ={"HELLO_SLEEP": "soon"}).parseOptions([])
        self.assertEqual(
            str(raised.exception),
            "HELLO_SLEEP (--sleep): 'soon' is not a number of seconds (0 or more)",
        )
