"""Cores a process may use: the affinity mask capped by the container's CPU quota."""

from __future__ import annotations

import os
from pathlib import Path

from services.common.cpus import available_cores, cgroup_cpu_limit


def _v2(root: Path, text: str) -> Path:
    (root / "cpu.max").write_text(text)
    return root


def _v1(root: Path, quota: str, period: str) -> Path:
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(period + "\n")
    return root


def test_the_quota_is_read_from_cgroup_v2_and_v1(tmp_path: Path) -> None:
    for name in "abcd":
        (tmp_path / name).mkdir()
    assert cgroup_cpu_limit(_v2(tmp_path / "a", "250000 100000\n")) == 2.5
    assert cgroup_cpu_limit(_v2(tmp_path / "b", "max 100000\n")) is None
    assert cgroup_cpu_limit(_v1(tmp_path / "c", "150000", "100000")) == 1.5
    assert cgroup_cpu_limit(_v1(tmp_path / "d", "-1", "100000")) is None
    assert cgroup_cpu_limit(tmp_path / "nothing-mounted") is None


def test_available_cores_are_the_affinity_capped_by_the_quota_rounded_up(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert available_cores(tmp_path) == affinity  # no quota
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert available_cores(tmp_path) == 1  # half a core still gets one thread
    (tmp_path / "cpu.max").write_text(f"{affinity * 100000 + 1} 100000\n")
    assert available_cores(tmp_path) == affinity  # a quota above the mask does not add cores
