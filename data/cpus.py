"""The CPUs this process may use: what a library should size its thread pool to.

    usable_cpus()    # 2 on a 2-core machine; 4 in a job given 4 of 64 cores, or --cpus 4
    cpu_budget()     # the same, at most OMP_NUM_THREADS where that is set

Libraries count the machine (``os.cpu_count()``, OpenMP's and ONNX Runtime's defaults): on a
cluster node or in a container a job told "4 CPUs" would start 64 threads and share 4 CPUs'
time among them. Here the count is the CPUs the process may run on (its affinity: taskset, a
scheduler's cpuset), fewer where a cgroup quota gives less time (cgroup v2 ``cpu.max``, v1
``cpu.cfs_quota_us``), rounded up.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def cpu_budget() -> int:
    """The threads this process should run at most: ``usable_cpus()``, fewer where
    ``OMP_NUM_THREADS`` says so (Snakemake sets a job's threads there, torchrun 1 a rank, a
    user sharing a node their share)."""
    cpus = usable_cpus()
    asked = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return min(cpus, int(asked)) if asked.isdigit() and int(asked) > 0 else cpus


def usable_cpus(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """The CPUs this process may run on, fewer where a cgroup quota allows less (Docker's
    ``--cpus``, Kubernetes' limits, SLURM's cgroups), rounded up; at least 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = cgroup_quota(cgroup_root, proc_cgroup)
    return max(1, min(cpus or 1, math.ceil(quota) if quota else cpus or 1))


def cgroup_quota(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float:
    """The CPUs' worth of time a cgroup quota gives this process, the tightest of its cgroup and
    those above it (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``); 0.0 when
    none limits it or none can be read."""
    quotas = []
    for line in _read_small(proc_cgroup).splitlines():
        hierarchy, _, path = line.partition(":")[2].partition(":")
        if hierarchy == "":  # v2: "0::/path"
            quotas += [_v2_quota(d / "cpu.max") for d in _cgroup_dirs(cgroup_root, path)]
        elif "cpu" in hierarchy.split(","):  # v1: "4:cpu,cpuacct:/path"
            base = cgroup_root / hierarchy
            quotas += [_v1_quota(d) for d in _cgroup_dirs(base, path)]
    quotas = [q for q in quotas if q > 0]
    return min(quotas) if quotas else 0.0


def _cgroup_dirs(base: Path, path: str) -> list[Path]:
    """``base/path`` and every folder above it up to ``base``."""
    parts = [p for p in path.split("/") if p and p != ".."]
    return [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def _v2_quota(file: Path) -> float:
    fields = _read_small(file).split()  # "max 100000" or "150000 100000"
    return _ratio(fields[0], fields[1]) if len(fields) == 2 else 0.0


def _v1_quota(folder: Path) -> float:
    return _ratio(_read_small(folder / "cpu.cfs_quota_us").strip(),
                  _read_small(folder / "cpu.cfs_period_us").strip())


def _ratio(quota: str, period: str) -> float:
    try:
        value = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return 0.0  # "max", -1, garbage: no limit read
    return value if 0 < value < 1 << 20 else 0.0


def _read_small(file: Path, limit: int = 1 << 16) -> str:
    """A kernel file's text; "" for one that is missing, not a plain file or unreadable (never
    blocking on a FIFO)."""
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        return os.read(fd, limit).decode("ascii", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)
