# -*- test-case-name: tests.test_environment -*-
"""
Options from the environment, for containers and platforms that set
variables rather than arguments: every option of C{twistd hello} is also
C{HELLO_} and its name in capitals, with C{_} for C{-} (C{--max-body-size}
is C{HELLO_MAX_BODY_SIZE}); the command line wins over a variable.

The ecosystem's conventional names work too, below hello's own:
C{WEB_CONCURRENCY} (gunicorn's, uvicorn's, Heroku's) for C{--workers}, and
C{FORWARDED_ALLOW_IPS} (uvicorn's, gunicorn's) for
C{--forwarded-allow-ips}.

A flag's variable is true for C{1}, C{true}, C{yes} or C{on} and false for
C{0}, C{false}, C{no}, C{off} or empty; C{HELLO_LISTEN}, like the repeated
C{--listen}, holds descriptions separated by spaces.  Other variables that
start with C{HELLO_} are left alone: Kubernetes sets C{HELLO_SERVICE_HOST}
and its kin for a Service named C{hello}.

This module only reads names and values; what they mean is the options'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PREFIX = "HELLO_"

#: The conventional variables, by option, read where hello's own is unset.
CONVENTIONAL: dict[str, tuple[str, ...]] = {
    "workers": ("WEB_CONCURRENCY",),
    "forwarded-allow-ips": ("FORWARDED_ALLOW_IPS",),
}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def variableFor(option: str) -> str:
    """
    The variable of C{--option}: C{HELLO_} and its name in capitals.
    """
    return PREFIX + option.upper().replace("-", "_")


def variablesFor(option: str) -> tuple[str, ...]:
    """
    Every variable that can set C{--option}, the one that wins first.
    """
    return (variableFor(option), *CONVENTIONAL.get(option, ()))


@dataclass(frozen=True)
class Setting:
    """
    An option given by a variable.

    @ivar option: the option's long name (C{sleep}).
    @ivar variable: the variable it came from (C{HELLO_SLEEP}).
    @ivar value: the variable's value, as it is set.
    """

    option: str
    variable: str
    value: str

    def flag(self) -> bool:
        """
        The value as a flag's.

        @raise ValueError: with a one-line message, for a value that is
            neither true nor false.
        """
        folded = self.value.strip().lower()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        raise ValueError(
            f"{self.value!r} is not a flag's value "
            f"(1, true, yes or on; 0, false, no, off or empty)"
        )

    def descriptions(self) -> list[str]:
        """
        The value as a list of descriptions, separated by spaces.
        """
        return self.value.split()


def settingsFrom(environ: Mapping[str, str], options: Iterable[str]) -> list[Setting]:
    """
    The options among C{options} that C{environ} sets, each from the first
    of its variables that is set.
    """
    found = []
    for option in options:
        for variable in variablesFor(option):
            if variable in environ:
                found.append(Setting(option, variable, environ[variable]))
                break
    return found
