# -*- test-case-name: tests.test_usageerrors -*-
"""
A bad command line said in one line, in this project's words.

twistd prints its whole usage (85 lines, on standard output) beside any
C{UsageError} a plugin raises, and the messages of C{getopt} and of
Twisted's endpoint parsers are Python's (C{invalid literal for int()}).
L{hello_service.tap.Options.parseOptions} hands every
error to L{reword} and, under twistd, ends the start with the line it
returns: C{hello: --OPTION: what is wrong (what is allowed)}.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

_UNRECOGNIZED = re.compile(r"^option (-{1,2}[^ ]+) not recognized$")
_NEEDS_VALUE = re.compile(r"^option (-{1,2}[^ ]+) requires argument$")
_TAKES_NO_VALUE = re.compile(r"^option (-{1,2}[^ ]+) must not have an argument$")
_NOT_UNIQUE = re.compile(r"^option (-{1,2}[^ ]+) not a unique prefix$")

#: The endpoint kinds hello serves on, as an operator would try them.
ENDPOINT_KINDS = ("tcp", "tcp6", "ssl", "unix", "systemd", "haproxy:...")

#: The parameters with a numeric value, by endpoint kind, and what they take.
_NUMBERS = {"port": (0, 65535), "backlog": (1, 2**31 - 1)}
_PORT_KINDS = frozenset({"tcp", "tcp6", "ssl"})


def reword(message: str, known: Iterable[str]) -> str:
    """
    One line for a refused command line: C{getopt}'s messages about
    unknown options, missing values and stray values said for hello (with
    the nearest known option where one is close); any other message as it
    is, on one line.

    @param message: the text of the C{UsageError}.
    @param known: the long option names hello takes, without dashes.
    """
    names = sorted(set(known))
    unrecognized = _UNRECOGNIZED.match(message)
    if unrecognized:
        given = unrecognized.group(1)
        nearest = difflib.get_close_matches(given.lstrip("-"), names, n=1)
        hint = (
            f"did you mean --{nearest[0]}?"
            if nearest
            else "twistd -n hello --help lists them"
        )
        return f"{given}: no such option ({hint})"
    needs = _NEEDS_VALUE.match(message)
    if needs:
        return f"{needs.group(1)}: needs a value (twistd -n hello --help says which)"
    stray = _TAKES_NO_VALUE.match(message)
    if stray:
        return f"{stray.group(1)}: is a switch and takes no value"
    ambiguous = _NOT_UNIQUE.match(message)
    if ambiguous:
        return f"{ambiguous.group(1)}: is the start of several options (spell it out)"
    return " ".join(message.split())


def _split(description: str) -> list[str]:
    """
    A strports description cut at its unescaped colons, escapes kept.
    """
    return re.split(r"(?<!\\):", description)


def endpointProblem(description: str, error: BaseException | None = None) -> str:
    """
    What is wrong with an endpoint description, in words an operator can
    act on: the parameter at fault and what it takes.  Called before the
    description is parsed (C{error} is C{None}: a port or backlog out of
    range, which Twisted would only find at listen time) and after its
    parser refused it.

    @return: the reason, or C{""} if C{error} is C{None} and nothing is
        found wrong.
    """
    parts = _split(description)
    while parts and parts[0].lower() == "haproxy":
        parts = parts[1:]
    kind = parts[0].lower() if parts else ""
    if not kind or (error is not None and "Unknown endpoint type" in str(error)):
        return f"unknown endpoint type {kind!r} (one of {', '.join(ENDPOINT_KINDS)})"
    positional = [part for part in parts[1:] if "=" not in part]
    named = dict(part.split("=", 1) for part in parts[1:] if "=" in part)
    if kind in _PORT_KINDS:
        port = positional[0] if positional else named.get("port")
        if port is None:
            return "no port given (for example tcp:8080)"
        named["port"] = port
    for name, (low, high) in _NUMBERS.items():
        if name in named and (
            not named[name].isdigit() or not low <= int(named[name]) <= high
        ):
            return f"{name} {named[name]!r} is not a number from {low} to {high}"
    if error is None:
        return ""
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(error))
    if unexpected:
        return f"{kind}: has no parameter {unexpected.group(1)!r}"
    if isinstance(error, OSError) and error.filename is not None:
        return f"cannot read {error.filename}: {error.strerror}"
    if kind == "systemd" and isinstance(error, (IndexError, KeyError)):
        which = (
            f"index {named['index']}"
            if "index" in named
            else f"name {named.get('name')!r}"
        )
        return (
            f"systemd passed no socket at {which} (start it from its .socket "
            f"unit, which sets LISTEN_FDS and LISTEN_FDNAMES)"
        )
    number = re.search(r"invalid literal for int\(\) with base 10: '(.*)'", str(error))
    if number:
        return f"{number.group(1)!r} is not a whole number"
    return " ".join(str(error).split()) or type(error).__name__
