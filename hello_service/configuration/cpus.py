# -*- test-case-name: tests.test_cpus -*-
"""
How many CPUs this process may use, for C{--workers auto}: the CPUs of its
affinity mask, or fewer where a cgroup CPU quota allows less time than
that (a container limited to 2 CPUs on a 64-core node may run on all 64
cores, but for 2 cores' worth of time: 64 workers would share it and each
be throttled).

The quota is read as the kernel applies it: cgroup v2's C{cpu.max}
(C{"max 100000"} or C{"200000 100000"}: microseconds of CPU time per
period) and v1's C{cpu.cfs_quota_us} and C{cpu.cfs_period_us}, in this
process's cgroup and every parent up to the root, the tightest winning.  A
fractional quota is rounded up (1.5 CPUs: 2 workers, each busy three
quarters of the time at most), as Go's runtime does for C{GOMAXPROCS}.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

#: Where the cgroup filesystems are mounted.
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: The cgroups of this process, one line per hierarchy.
SELF_CGROUP = Path("/proc/self/cgroup")

#: A limit as a cgroup file gives it: CPUs (a float) or bytes (an int).
_Limit = TypeVar("_Limit", int, float)


@dataclass(frozen=True)
class UsableCPUs:
    """
    How many workers to start, and, for C{auto}, why that many, as the
    start-up line says it (C{""} for a number given).
    """

    count: int
    reason: str


def workerCount(value: str) -> UsableCPUs:
    """
    The number of workers C{--workers} asks for: a whole number, or
    C{auto} for the CPUs this process may use (L{usableCPUs}).

    @raise ValueError: for anything else.
    """
    if value == "auto":
        return usableCPUs()
    count = int(value)
    if count < 1:
        raise ValueError(value)
    return UsableCPUs(count, "")


def usableCPUs(
    cgroupRoot: Path = CGROUP_ROOT,
    selfCgroup: Path = SELF_CGROUP,
    affinity: int | None = None,
) -> UsableCPUs:
    """
    The CPUs this process may use: its affinity mask's, or its cgroup CPU
    quota's, whichever allows fewer.

    @param affinity: the CPUs of the affinity mask (this process's, unless
        given).
    """
    if affinity is None:
        affinity = len(os.sched_getaffinity(0))
    quota = cgroupQuota(cgroupRoot, selfCgroup)
    if quota is not None and math.ceil(quota) < affinity:
        return UsableCPUs(
            max(1, math.ceil(quota)),
            f"for the cgroup CPU quota of {quota:g} CPUs "
            f"(the affinity mask allows {affinity})",
        )
    limit = "" if quota is None else f" (the cgroup CPU quota allows {quota:g})"
    return UsableCPUs(affinity, f"for the {affinity} CPUs of the affinity mask{limit}")


def cgroupQuota(cgroupRoot: Path, selfCgroup: Path) -> float | None:
    """
    The CPUs' worth of time the cgroups of this process allow, or C{None}
    where none sets a quota (or there are no cgroups to read).
    """
    return _tightest(
        cgroupRoot, selfCgroup, "cpu", ("cpu,cpuacct", "cpu"), _v2Quota, _v1Quota
    )


def cgroupMemoryLimit(
    cgroupRoot: Path = CGROUP_ROOT, selfCgroup: Path = SELF_CGROUP
) -> int | None:
    """
    The bytes of memory the cgroups of this process may use, or C{None}
    where none sets a limit.
    """
    return _tightest(
        cgroupRoot, selfCgroup, "memory", ("memory",), _v2Memory, _v1Memory
    )


def _tightest(
    cgroupRoot: Path,
    selfCgroup: Path,
    controller: str,
    v1Mounts: tuple[str, ...],
    v2Limit: Callable[[Path], _Limit | None],
    v1Limit: Callable[[Path], _Limit | None],
) -> _Limit | None:
    """
    The tightest limit of C{controller} set in the cgroups of this process
    (v2's and v1's), or C{None}.
    """
    try:
        lines = selfCgroup.read_text().splitlines()
    except OSError:
        return None
    limits: list[_Limit] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2, the unified hierarchy
            limits += _walk(cgroupRoot, path, v2Limit)
        elif controller in controllers.split(","):
            for mount in (controllers, *v1Mounts):
                if (cgroupRoot / mount).is_dir():
                    limits += _walk(cgroupRoot / mount, path, v1Limit)
                    break
    return min(limits, default=None)


def _walk(
    mount: Path, path: str, quotaIn: Callable[[Path], _Limit | None]
) -> list[_Limit]:
    """
    The quotas set in cgroup C{path} of the hierarchy mounted at C{mount}
    and in each of its parents.  (In a container without a cgroup
    namespace the path names the cgroup as the host sees it, which may not
    exist in the container's mount: its mount's root is read all the same.)
    """
    quotas = []
    directory = PurePosixPath(path)
    while True:
        found = quotaIn(mount / directory.relative_to("/"))
        if found is not None:
            quotas.append(found)
        if directory == directory.parent:
            return quotas
        directory = directory.parent


def _v2Quota(directory: Path) -> float | None:
    try:
        quota, period = (directory / "cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return int(quota) / int(period)


def _v1Quota(directory: Path) -> float | None:
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


#: What cgroup v1 reports for "no limit": the largest page-aligned number.
_V1_UNLIMITED = 2**62


def _v2Memory(directory: Path) -> int | None:
    try:
        limit = (directory / "memory.max").read_text().strip()
    except OSError:
        return None
    return None if limit == "max" or not limit.isdigit() else int(limit)


def _v1Memory(directory: Path) -> int | None:
    try:
        limit = int((directory / "memory.limit_in_bytes").read_text())
    except (OSError, ValueError):
        return None
    return None if limit >= _V1_UNLIMITED else limit
