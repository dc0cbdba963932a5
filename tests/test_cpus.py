"""
Tests for L{hello_service.configuration.cpus}: C{--workers auto} against fake cgroup
trees (v2 and v1) and the real affinity mask.
"""

from __future__ import annotations

import os
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from hello_service.configuration.cpus import (
    UsableCPUs,
    cgroupQuota,
    usableCPUs,
    workerCount,
)

AFFINITY = len(os.sched_getaffinity(0))


class FakeCgroups:
    """
    A cgroup filesystem and a C{/proc/self/cgroup} in a directory of the
    test's.
    """

    def __init__(self, test: SynchronousTestCase, membership: str) -> None:
        self.root = Path(test.mktemp())
        self.root.mkdir()
        self.selfCgroup = self.root / "self-cgroup"
        self.selfCgroup.write_text(membership)

    def write(self, path: str, **files: str) -> None:
        directory = self.root / path
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (directory / name.replace("_", ".", 1)).write_text(text + "\n")

    def quota(self) -> float | None:
        return cgroupQuota(self.root, self.selfCgroup)

    def usable(self, affinity: int | None = None) -> UsableCPUs:
        return usableCPUs(self.root, self.selfCgroup, affinity)


class V2Tests(SynchronousTestCase):
    def test_quotaOfTheCgroup(self) -> None:
        """
        C{cpu.max} of the process's cgroup: quota over period, in CPUs.
        """
        cgroups = FakeCgroups(self, "0::/kubepods/pod1/c1\n")
        cgroups.write("kubepods/pod1/c1", cpu_max="150000 100000")
        self.assertEqual(cgroups.quota(), 1.5)

    def test_tightestAncestor(self) -> None:
        """
        A parent's quota binds its children too: the tightest of the path
        wins; C{max} sets none.
        """
        cgroups = FakeCgroups(self, "0::/a/b\n")
        cgroups.write("", cpu_max="max 100000")
        cgroups.write("a", cpu_max="200000 100000")
        cgroups.write("a/b", cpu_max="max 100000")
        self.assertEqual(cgroups.quota(), 2.0)

    def test_colonInPath(self) -> None:
        """
        A cgroup path may hold a colon: only the first two separate fields.
        """
        cgroups = FakeCgroups(self, "0::/pod:a/c\n")
        cgroups.write("pod:a/c", cpu_max="300000 100000")
        self.assertEqual(cgroups.quota(), 3.0)

    def test_noQuota(self) -> None:
        cgroups = FakeCgroups(self, "0::/a\n")
        cgroups.write("a", cpu_max="max 100000")
        self.assertIsNone(cgroups.quota())

    def test_containerView(self) -> None:
        """
        A path that is not under the mount (the host's name for a
        container's cgroup) still finds the mount root's quota.
        """
        cgroups = FakeCgroups(self, "0::/system.slice/docker-1.scope\n")
        cgroups.write("", cpu_max="100000 100000")
        self.assertEqual(cgroups.quota(), 1.0)

    def test_nothingToRead(self) -> None:
        """
        No cgroups (another system), or a file that makes no sense: no
        quota, not a crash.
        """
        self.assertIsNone(cgroupQuota(Path("/nonexistent"), Path("/nonexistent")))
        cgroups = FakeCgroups(self, "0::/a\n")
        cgroups.write("a", cpu_max="garbage")
        self.assertIsNone(cgroups.quota())


class V1Tests(SynchronousTestCase):
    def test_cfsQuota(self) -> None:
        """
        v1: C{cpu.cfs_quota_us} over C{cpu.cfs_period_us} of the cpu
        controller's hierarchy; -1 sets none.
        """
        cgroups = FakeCgroups(self, "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n")
        cgroups.write("cpu,cpuacct", cpu_cfs_quota_us="-1", cpu_cfs_period_us="100000")
        cgroups.write(
            "cpu,cpuacct/docker/abc",
            cpu_cfs_quota_us="50000",
            cpu_cfs_period_us="100000",
        )
        self.assertEqual(cgroups.quota(), 0.5)

    def test_separateCpuMount(self) -> None:
        cgroups = FakeCgroups(self, "3:cpuacct,cpu:/a\n")
        cgroups.write("cpu/a", cpu_cfs_quota_us="300000", cpu_cfs_period_us="100000")
        self.assertEqual(cgroups.quota(), 3.0)


class UsableTests(SynchronousTestCase):
    def test_quotaBelowAffinity(self) -> None:
        """
        A pod limited to 2 CPUs on a 64-core node: 2 workers, and the line
        says why; a fraction is rounded up, never below 1.
        """
        cgroups = FakeCgroups(self, "0::/\n")
        cgroups.write("", cpu_max="200000 100000")
        self.assertEqual(
            cgroups.usable(affinity=64),
            UsableCPUs(
                2, "for the cgroup CPU quota of 2 CPUs (the affinity mask allows 64)"
            ),
        )
        cgroups.write("", cpu_max="150000 100000")
        self.assertEqual(cgroups.usable(affinity=64).count, 2)
        cgroups.write("", cpu_max="10000 100000")
        self.assertEqual(cgroups.usable(affinity=64).count, 1)

    def test_affinityBelowQuota(self) -> None:
        """
        With the real affinity mask of this process under a generous quota,
        the mask decides.
        """
        cgroups = FakeCgroups(self, "0::/\n")
        cgroups.write("", cpu_max=f"{(AFFINITY + 2) * 100000} 100000")
        self.assertEqual(
            cgroups.usable(),
            UsableCPUs(
                AFFINITY,
                f"for the {AFFINITY} CPUs of the affinity mask "
                f"(the cgroup CPU quota allows {AFFINITY + 2})",
            ),
        )

    def test_noQuotaRealMask(self) -> None:
        cgroups = FakeCgroups(self, "0::/\n")
        self.assertEqual(
            cgroups.usable(),
            UsableCPUs(AFFINITY, f"for the {AFFINITY} CPUs of the affinity mask"),
        )


class WorkerCountTests(SynchronousTestCase):
    def test_workerCount(self) -> None:
        """
        C{--workers} takes a whole number from 1 (no reason given), or
        C{auto} for the CPUs this process may use.
        """
        self.assertEqual(workerCount("3"), UsableCPUs(3, ""))
        self.assertEqual(workerCount("auto"), usableCPUs())
        for bad in ["0", "-1", "many", "1.5"]:
            with self.assertRaises(ValueError):
                workerCount(bad)
