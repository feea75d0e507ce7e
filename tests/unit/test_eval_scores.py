"""The eval's episode scores on spans whose answer is worked out by hand."""

from __future__ import annotations

import pytest

from tests.eval.vision_grid import episode_scores


def test_recall_is_the_held_time_found_and_precision_the_found_time_allowed() -> None:
    held = [(10.0, 12.0), (20.0, 21.0)]
    allowed = [(9.5, 12.5), (19.5, 21.5)]
    found = [(10.5, 12.5), (30.0, 31.0)]  # 1.5 s of the first, nothing of the second; 1 s found elsewhere
    recall, precision = episode_scores(found, held, allowed)
    assert recall == pytest.approx(1.5 / 3.0)
    assert precision == pytest.approx(2.0 / 3.0)  # 10.5-12.5 lies within the allowed span, 30-31 does not


def test_nothing_to_find_or_nothing_found_has_no_rate() -> None:
    assert episode_scores([], [], []) == (None, None)
    assert episode_scores([], [(1.0, 2.0)], [(0.5, 2.5)]) == (0.0, None)
    assert episode_scores([(1.0, 2.0)], [], []) == (None, 0.0)
