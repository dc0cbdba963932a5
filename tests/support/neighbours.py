"""
What the rest of the machine did while a test measured work side by side.

A test that shows two pieces of work running at the same instant on two
CPUs needs both CPUs: a neighbour that took one of them (another test
process of C{trial -j2}, a build beside the suite, another guest of the
host) makes the pieces take turns, and the test would blame the program.
L{Neighbours} measures, from C{/proc}, how much CPU time everything but
the program under test and the test itself used during the measurement,
so the test can tell "the program did not work side by side" from "the
machine could not let it".  The load average cannot: it is a minute's
average, and lags a neighbour that started a second ago.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

_TICKS = os.sysconf("SC_CLK_TCK")


def _machineBusy() -> float:
    """
    CPU-seconds the machine's CPUs spent not idle since boot, time taken by
    the host from this guest (steal) included: it was not ours either.
    """
    fields = [
        int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ]
    idle, iowait = fields[3], fields[4]
    # guest and guest_nice (fields 8 and 9) are already inside user and nice.
    return (sum(fields[:8]) - idle - iowait) / _TICKS


def _parents() -> dict[int, int]:
    """
    Every process's parent, by PID.
    """
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended while we looked
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _treeSeconds(roots: set[int]) -> float:
    """
    CPU-seconds used so far by the processes C{roots} and all their
    descendants (user and system time, every thread).
    """
    parents = _parents()
    tree = set(roots)
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in tree}
        grew = not children <= tree
        tree |= children
    total = 0
    for pid in tree:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


class Neighbours:
    """
    A measurement, as a context manager, of the CPU time used by every
    process except C{pid} (with its descendants) and this test process.

    @ivar seconds: after the block, the CPU-seconds those other processes
        used during it.
    """

    def __init__(self, pid: int) -> None:
        self._roots = {pid, os.getpid()}
        self.seconds = 0.0

    def _othersSoFar(self) -> float:
        return _machineBusy() - _treeSeconds(self._roots)

    def __enter__(self) -> Neighbours:
        self._before = self._othersSoFar()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.seconds = max(0.0, self._othersSoFar() - self._before)
