"""
Options from the environment (L{hello_service.configuration.environment}): every option
as C{HELLO_<OPTION>}, the conventional C{WEB_CONCURRENCY} and
C{FORWARDED_ALLOW_IPS}, the command line winning, and a bad value one line
naming its variable.
"""

from __future__ import annotations

from dataclasses import fields

from twisted.internet.testing import MemoryReactor
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from hello_service.configuration.config import Config
from hello_service.configuration.environment import (
    settingsFrom,
    variableFor,
    variablesFor,
)
from hello_service.tap import Options


def parse(environ: dict[str, str], *arguments: str) -> Options:
    options = Options(reactor=MemoryReactor(), environ=environ)
    options.parseOptions(list(arguments))
    return options


class VariableTests(SynchronousTestCase):
    def test_names(self) -> None:
        self.assertEqual(variableFor("max-body-size"), "HELLO_MAX_BODY_SIZE")
        self.assertEqual(variablesFor("workers"), ("HELLO_WORKERS", "WEB_CONCURRENCY"))
        self.assertEqual(
            variablesFor("forwarded-allow-ips"),
            ("HELLO_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS"),
        )

    def test_ownNameFirst(self) -> None:
        """
        hello's own variable wins over the conventional one.
        """
        [setting] = settingsFrom(
            {"WEB_CONCURRENCY": "4", "HELLO_WORKERS": "2"}, ["workers"]
        )
        self.assertEqual((setting.variable, setting.value), ("HELLO_WORKERS", "2"))

    def test_everyOptionHasAVariable(self) -> None:
        """
        Every parameter and flag of C{twistd hello}, and C{--listen}, is
        read from its variable.
        """
        names = [p[0] for p in Options.optParameters] + [f[0] for f in Options.optFlags]
        environ = {variableFor(name): "x" for name in ["listen", *names]}
        found = {s.option for s in settingsFrom(environ, ["listen", *names])}
        self.assertEqual(found, {"listen", *names})


class OptionsFromEnvironmentTests(SynchronousTestCase):
    def test_parameters(self) -> None:
        config = parse(
            {
                "HELLO_SLEEP": "2.5",
                "HELLO_MAX_BODY_SIZE": "100",
                "HELLO_IDLE_TIMEOUT": "7",
                "HELLO_CACHE_CONTROL": "no-cache",
            }
        ).config
        assert config is not None
        self.assertEqual(config.sleep, 2.5)
        self.assertEqual(config.requestLimits.maxBody, 100)
        self.assertEqual(config.timeouts.idle, 7.0)
        self.assertEqual(config.cacheControl, b"no-cache")

    def test_flags(self) -> None:
        for value, expected in [("1", True), ("yes", True), ("ON", True),
                                ("0", False), ("off", False), ("", False)]:  # fmt: skip
            config = parse({"HELLO_PARALLEL": value, "HELLO_NO_HTTP2": value}).config
            assert config is not None
            self.assertEqual(config.parallel, expected, value)
            self.assertEqual(config.http2 is None, expected, value)

    def test_listen(self) -> None:
        """
        C{HELLO_LISTEN} holds descriptions separated by spaces; a
        C{--listen} replaces them all.
        """
        environ = {"HELLO_LISTEN": "tcp:8080  tcp:8081:interface=127.0.0.1"}
        config = parse(environ).config
        assert config is not None
        self.assertEqual(
            [d for d, _ in config.endpoints],
            ["tcp:8080", "tcp:8081:interface=127.0.0.1"],
        )
        config = parse(environ, "--listen", "tcp:9090").config
        assert config is not None
        self.assertEqual([d for d, _ in config.endpoints], ["tcp:9090"])

    def test_conventionalNames(self) -> None:
        config = parse(
            {"WEB_CONCURRENCY": "3", "FORWARDED_ALLOW_IPS": "10.0.0.0/8"},
            "--listen", "tcp:0",
        ).config  # fmt: skip
        assert config is not None
        self.assertEqual(config.workers, 3)
        self.assertEqual(config.forwardedAllowIps, "10.0.0.0/8")

    def test_commandLineWins(self) -> None:
        config = parse(
            {"HELLO_SLEEP": "2", "WEB_CONCURRENCY": "3", "HELLO_ACCESS_LOG_FORMAT": "json"},
            "--sleep", "4", "--workers", "1", "--access-log-format", "combined",
        ).config  # fmt: skip
        assert config is not None
        self.assertEqual(
            (config.sleep, config.workers, config.accessLogFormat), (4.0, 1, "combined")
        )

    def test_badValuesNameTheVariable(self) -> None:
        """
        A bad value is one line that names the variable and the option.
        """
        for environ, expected in [
            ({"HELLO_SLEEP": "soon"},
             "HELLO_SLEEP (--sleep): 'soon' is not a number of seconds (0 or more)"),
            ({"WEB_CONCURRENCY": "lots"},
             "WEB_CONCURRENCY (--workers): 'lots' is not a whole number (1 or more) or 'auto'"),
            ({"HELLO_PARALLEL": "maybe"},
             "HELLO_PARALLEL (--parallel): 'maybe' is not a flag's value "
             "(1, true, yes or on; 0, false, no, off or empty)"),
            ({"HELLO_ACCESS_LOG_FORMAT": "xml"},
             "HELLO_ACCESS_LOG_FORMAT (--access-log-format): 'xml' is not one of "
             "combined, json"),
        ]:  # fmt: skip
            with self.assertRaises(UsageError) as raised:
                parse(environ)
            self.assertEqual(str(raised.exception), expected)

    def test_otherVariablesLeftAlone(self) -> None:
        """
        Variables that name no option (Kubernetes' service links among
        them) change nothing.
        """

        def settings(environ: dict[str, str]) -> dict[str, object]:
            config = parse(environ).config
            return {
                f.name: getattr(config, f.name)
                for f in fields(Config)
                if f.name not in ("endpoints", "pages")  # made anew each time
            }

        self.assertEqual(
            settings(
                {"HELLO_SERVICE_HOST": "10.0.0.1", "HELLO_PORT": "tcp://1.2.3.4:80"}
            ),
            settings({}),
        )

    def test_helpSaysSo(self) -> None:
        self.assertIn("HELLO_", Options.longdesc)
        self.assertIn("WEB_CONCURRENCY for --workers", Options.longdesc)
        self.assertIn("FORWARDED_ALLOW_IPS for --forwarded-allow-ips", Options.longdesc)
