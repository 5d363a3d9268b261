"""How many CPU cores this process may use: affinity mask and cgroup quota, not the machine's count.

Why: ``os.cpu_count()`` is the machine's core count. A container limited by a CPU quota
(Docker ``--cpus``, Kubernetes limits, Slurm's cgroups) or a process pinned by ``taskset``
gets fewer; running more busy threads than that only adds contention (CFS throttling stalls
every thread for the rest of the period once the quota is spent).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Optional

CGROUP_ROOT = Path("/sys/fs/cgroup")


def parse_cpu_max(text: str) -> Optional[float]:
    """Cores allowed by a cgroup v2 ``cpu.max`` ("QUOTA PERIOD" or "max PERIOD"); None = unlimited."""
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    quota = int(fields[0])
    period = int(fields[1]) if len(fields) > 1 else 100_000
    return quota / period if quota > 0 and period > 0 else None


def parse_cfs(quota_text: str, period_text: str) -> Optional[float]:
    """Cores allowed by cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``; None = unlimited (-1)."""
    quota, period = int(quota_text.strip()), int(period_text.strip())
    return quota / period if quota > 0 and period > 0 else None


def _own_cgroup_dirs(root: Path, self_cgroup: Optional[str]) -> list:
    """The cgroup v2 directory of this process and its ancestors (each may set a quota)."""
    try:
        lines = (self_cgroup if self_cgroup is not None else Path("/proc/self/cgroup").read_text()).splitlines()
    except OSError:
        return [root]
    relative = next((line.split(":", 2)[2] for line in lines if line.startswith("0::")), "/")
    here = root / relative.lstrip("/")
    return [here, *here.parents[: len(here.relative_to(root).parts)]]


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, self_cgroup: Optional[str] = None) -> Optional[float]:
    """The tightest CPU quota over this process's cgroup and its parents (v2), else v1's; None if none.

    ``self_cgroup``: the text of /proc/self/cgroup (read when None; tests pass their own).
    """
    limits = []
    for folder in _own_cgroup_dirs(root, self_cgroup):
        try:
            limit = parse_cpu_max((folder / "cpu.max").read_text())
        except (OSError, ValueError, IndexError):
            continue
        if limit is not None:
            limits.append(limit)
    if not limits:
        try:
            limit = parse_cfs((root / "cpu" / "cpu.cfs_quota_us").read_text(), (root / "cpu" / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            limit = None
        if limit is not None:
            limits.append(limit)
    return min(limits) if limits else None


def available_cpus(affinity: Optional[Callable[[], set]] = None, quota: Optional[Callable[[], Optional[float]]] = None) -> int:
    """Cores this process may run on: min(affinity mask, ceil(cgroup quota)), at least 1.

    ``affinity`` and ``quota`` are injectable for tests; by default ``os.sched_getaffinity``
    (absent on macOS/Windows: ``os.cpu_count()``) and :func:`cgroup_cpu_limit`.
    """
    if affinity is None:
        affinity = (lambda: os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (lambda: set(range(os.cpu_count() or 1)))
    cores = len(affinity()) or 1
    limit = (quota or cgroup_cpu_limit)()
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit - 1e-9)))
    return max(1, cores)


def worker_count(threads: Optional[int], device: str = "cpu") -> int:
    """Model-calling threads for a ``--threads`` value: the cap if given, else every available core.

    On CUDA one thread feeds the GPU (its kernels, not the host cores, do the work).
    """
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        return threads if device != "cuda" else 1
    return 1 if device == "cuda" else available_cpus()
