"""
The one way the system tests wait for something a process does: ask again
until it holds or a deadline passes, never a fixed sleep that hopes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(check: Callable[[], T], seconds: float, what: str, every: float = 0.05) -> T:
    """
    Call C{check} until it returns a true value, and return that value.

    @param seconds: how long to keep asking.
    @param what: what is waited for, for the failure's message.
    @raise AssertionError: if it does not hold within C{seconds}; the
        message names C{what} and the last value C{check} returned.
    """
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {seconds} s: {what} (last: {value!r})")
        time.sleep(every)
