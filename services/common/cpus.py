"""How many cores this process may really use.

Inside a container the CPU count and the affinity mask are the node's, while the container's share is a
cgroup quota (a Kubernetes CPU limit). Thread pools and model workers sized by the node's count would
oversubscribe the share, so their defaults use `available_cores`: the affinity mask, capped by the quota
(cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), rounded up.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """Cores the cgroup quota allows, or None without a quota."""
    v2 = root / "cpu.max"
    if v2.is_file():
        parts = v2.read_text().split()
        if len(parts) == 2 and parts[0] != "max":
            return _ratio(parts[0], parts[1])
        return None
    quota, period = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
    if quota.is_file() and period.is_file():
        return _ratio(quota.read_text().strip(), period.read_text().strip())
    return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def available_cores(root: Path = CGROUP_ROOT) -> int:
    """Cores of the affinity mask, capped by the cgroup quota (rounded up), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cores = min(cores, math.ceil(limit))
    return max(1, cores)


__all__ = ["available_cores", "cgroup_cpu_limit"]
