"""`make bench` headlines: a part's listed paths, or else its speed-ups, ratios and targets."""

from __future__ import annotations

from types import ModuleType

from tests.bench.__main__ import flatten, headline

RESULT = {
    "interviews": 2,
    "pipeline": {"times_real_time": 2.5, "peak_rss_mb": {"vision": 900.0}},
    "speedup_vs_naive": 6.1,
    "targets": {"times_real_time": 3.0},
}


def test_flatten_gives_dotted_paths_to_leaves() -> None:
    assert dict(flatten(RESULT))["pipeline.peak_rss_mb.vision"] == 900.0
    assert len(dict(flatten(RESULT))) == 5


def test_listed_paths_win_in_their_order_and_missing_ones_are_skipped() -> None:
    part = ModuleType("bench_x")
    part.HEADLINE = ("speedup_vs_naive", "pipeline.peak_rss_mb.vision", "not.there")  # type: ignore[attr-defined]
    assert headline(part, RESULT) == [("speedup_vs_naive", 6.1), ("pipeline.peak_rss_mb.vision", 900.0)]


def test_without_a_list_speedups_ratios_and_targets_are_shown() -> None:
    assert headline(ModuleType("bench_y"), RESULT) == [
        ("pipeline.times_real_time", 2.5),
        ("speedup_vs_naive", 6.1),
        ("targets.times_real_time", 3.0),
    ]
