# -*- test-case-name: tests.test_recycling,tests.test_supervisor -*-
"""
Worker recycling (C{--max-requests}, C{--max-requests-jitter},
C{--max-worker-memory}; gunicorn's and uvicorn's names): when a worker has
answered its share of requests, or grown past a memory bound, the
supervisor replaces it the way a rolling restart does, the new worker
serving before the old one drains.

This module is the rule, free of processes: the bound each new worker gets
(the jitter spreads the workers' ends, so that they are not all replaced
at once), whether a worker's latest figures pass it, and how a size is
written on the command line; and the L{Recycler}, which starts one
replacement at a time (the supervisor does the replacing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from random import Random
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred

from hello_service.http.counting import answeredTotal

#: The share of the cgroup's memory limit that C{--max-worker-memory auto}
#: gives the workers together: the rest is the main process's and the
#: kernel's (page cache, socket buffers), so that a growing worker is
#: replaced before the kernel's OOM killer picks a process itself.
AUTO_SHARE = 0.8

_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$", re.IGNORECASE)


def parseSize(text: str) -> int:
    """
    A size as the options write it: bytes, or with C{K}, C{M} or C{G}
    (binary: C{512M} is 512 MiB; C{MiB} and C{MB} say the same).

    @raise ValueError: for anything else, or a size under 1 MiB (no Python
        process serves in less).
    """
    found = _SIZE.match(text.strip())
    if found is None:
        raise ValueError(text)
    size = int(float(found.group(1)) * _UNITS[found.group(2).lower()])
    if size < 2**20:
        raise ValueError(text)
    return size


def autoMemory(workers: int, limit: int | None) -> int:
    """
    C{--max-worker-memory auto}: each worker's share of L{AUTO_SHARE} of
    the cgroup's memory limit, or 0 (no bound) where none is set.
    """
    if limit is None:
        return 0
    return int(limit * AUTO_SHARE / workers)


def mebibytes(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


@dataclass(frozen=True)
class RecyclePolicy:
    """
    When a worker is recycled.

    @ivar maxRequests: the answers after which a worker is replaced (0:
        never, for its answers).
    @ivar jitter: up to this many answers more, chosen anew for each
        worker.
    @ivar maxMemory: the resident bytes past which a worker is replaced
        (0: never, for its memory).
    @ivar memoryChosenBy: for C{--max-worker-memory auto}, where the bound
        came from, for the start-up line.
    """

    maxRequests: int = 0
    jitter: int = 0
    maxMemory: int = 0
    memoryChosenBy: str = ""

    def describe(self) -> str:
        """
        The policy in the supervisor's start-up line.
        """
        bounds = []
        if self.maxRequests:
            top = self.maxRequests + self.jitter
            spread = f"{self.maxRequests}" + (f" to {top}" if self.jitter else "")
            bounds.append(f"after {spread} requests")
        if self.maxMemory:
            bounds.append(f"past {mebibytes(self.maxMemory)} resident")
        said = "recycling each worker " + " or ".join(bounds) if bounds else ""
        if self.memoryChosenBy:
            said += ("; " if said else "") + self.memoryChosenBy
        return said

    @property
    def active(self) -> bool:
        return bool(self.maxRequests or self.maxMemory)

    def requestLimit(self, random: Random) -> int:
        """
        The answers a new worker may give (0: no bound).
        """
        if not self.maxRequests:
            return 0
        return self.maxRequests + random.randint(0, self.jitter)

    def firstDue(self, workers: Iterable[tuple[int, Any]]) -> tuple[int, str] | None:
        """
        The first of C{workers} (slot and worker, each serving and
        reporting) past a bound, and why; or C{None}.
        """
        for slot, worker in workers:
            why = self.due(
                answeredTotal(worker.figures),
                worker.figures.get("process", {}).get("residentBytes"),
                worker.requestLimit,
            )
            if why is not None:
                return slot, why
        return None

    def due(self, answered: int, resident: int | None, limit: int) -> str | None:
        """
        Why a worker with these figures is to be recycled, or C{None}.

        @param answered: the answers it has given.
        @param resident: its resident memory, in bytes, if known.
        @param limit: its own bound of answers (L{requestLimit}).
        """
        if limit and answered >= limit:
            return f"it answered {answered} requests (its bound: {limit})"
        if self.maxMemory and resident is not None and resident > self.maxMemory:
            return (
                f"its resident memory, {mebibytes(resident)}, is over "
                f"--max-worker-memory {mebibytes(self.maxMemory)}"
            )
        return None


class Recycler:
    """
    Recycling in time, one worker at a time: L{check} starts replacing the
    first worker past a bound, unless one is being replaced already.
    """

    def __init__(
        self,
        policy: RecyclePolicy,
        recycle: Callable[[int, str], Coroutine[Any, Any, None]],
    ) -> None:
        """
        @param recycle: replaces the worker of a slot, told why.
        """
        self.policy = policy
        self._recycle = recycle
        self._underway: Deferred[None] | None = None

    def check(self, workers: Iterable[tuple[int, Any]]) -> None:
        """
        Start recycling the first of C{workers} (slot and worker, each
        serving and reporting) past a bound.
        """
        if not self.policy.active or self._underway is not None:
            return
        due = self.policy.firstDue(workers)
        if due is not None:
            self._underway = ensureDeferred(self._recycleOne(*due))

    async def _recycleOne(self, slot: int, why: str) -> None:
        try:
            await self._recycle(slot, why)
        finally:
            self._underway = None

    async def finished(self) -> None:
        """
        Wait until the recycling under way, if any, has finished.
        """
        if self._underway is not None:
            await self._underway
