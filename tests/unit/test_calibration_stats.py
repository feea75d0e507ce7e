"""Calibration statistics: Spearman's rho against scipy's, bootstrap intervals and the weight proposal."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from services.calibrate.stats import Correlation, correlate, propose_weights, spearman


def test_spearman_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, 60).astype(float)  # many ties
    y = x + rng.normal(0, 2, 60)
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic)
    assert spearman([1, 2, 3], [30, 20, 10]) == -1.0
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0  # no variation: no relation, not an error


def test_bootstrap_interval_holds_rho_is_repeatable_and_narrows_with_n() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=400)
    y = x + rng.normal(size=400)
    small, large = correlate("d", x[:40], y[:40]), correlate("d", x, y)
    assert small.low <= small.rho <= small.high and large.low <= large.rho <= large.high
    assert large.high - large.low < small.high - small.low
    assert correlate("d", x, y) == large  # fixed seed: the same data gives the same interval


def test_proposal_is_non_negative_sums_to_one_and_shrinks_towards_current() -> None:
    current = {"a": 50.0, "b": 30.0, "c": 20.0}
    # (dimension, rho, interval): no relation, a clear positive one, a clear negative one
    evidence = [("a", 0.0, -0.1, 0.1), ("b", 0.5, 0.4, 0.6), ("c", -0.4, -0.5, -0.3)]

    def proposal(n: int) -> dict[str, float]:
        return propose_weights(current, [Correlation(*e, n) for e in evidence], 100).proposed

    few, many = proposal(10), proposal(100_000)
    for weights in (few, many):
        assert sum(weights.values()) == pytest.approx(1.0) and min(weights.values()) >= 0
    assert few == pytest.approx({"a": 0.5 * 100 / 110, "b": (0.3 * 100 + 10) / 110, "c": 0.2 * 100 / 110})
    assert many["b"] > 0.99 and many["c"] < 0.01  # a negative relation never earns weight
    unsupported = propose_weights(current, [Correlation("a", 0.05, -0.1, 0.2, 500)], 100)
    assert unsupported.evidence is None and unsupported.proposed == pytest.approx({"a": 0.5, "b": 0.3, "c": 0.2})
