"""The commit point never passes unfinished work, whatever the completion order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.offsets import PartitionOffsets


def test_commit_point_waits_for_the_lowest_unfinished_offset() -> None:
    p = PartitionOffsets()
    for offset in (10, 11, 12):
        p.start(offset)
    p.finish(12)
    p.finish(11)
    assert p.commit_point() == 10  # 10 still running: re-deliver it (and the rest) after a crash
    p.finish(10)
    assert p.commit_point() == 13


def test_nothing_to_commit_before_anything_finished_or_after_committing() -> None:
    p = PartitionOffsets()
    assert p.commit_point() is None
    p.start(0)
    p.finish(0)
    assert p.commit_point() == 1
    p.mark_committed(1)
    assert p.commit_point() is None


def test_abandoned_work_is_not_committed_past() -> None:
    p = PartitionOffsets()
    for offset in (5, 6, 7):
        p.start(offset)
    p.finish(7)
    p.abandon(5)
    p.abandon(6)
    assert p.commit_point() == 5


def test_starting_an_offset_twice_is_a_bug() -> None:
    p = PartitionOffsets()
    p.start(3)
    with pytest.raises(ValueError, match="already in flight"):
        p.start(3)


@given(st.data(), st.integers(min_value=1, max_value=40))
def test_commit_point_is_always_safe(data: st.DataObject, n: int) -> None:
    p = PartitionOffsets()
    offsets = list(range(100, 100 + n))
    for o in offsets:
        p.start(o)
    order = data.draw(st.permutations(offsets))
    finished: set[int] = set()
    for o in order:
        p.finish(o)
        finished.add(o)
        point = p.commit_point()
        if point is not None:
            # Everything below the commit point finished; the commit point itself did not, unless all did.
            assert all(x in finished for x in offsets if x < point)
            p.mark_committed(point)
    assert p.committed == 100 + n
