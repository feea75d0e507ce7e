"""The statistics of calibration: rank correlation with a bootstrap interval, and the weight proposal.

Pure functions over numbers. Spearman's rho (Pearson on average ranks, so ties are fair) measures how
well a dimension orders candidates by their later rating without assuming a linear scale on either side.
The bootstrap resamples candidates (pairs) with a fixed seed, so the same data always gives the same
interval. The proposal gives each competency weight in proportion to the *lower* end of its interval
(what the evidence supports with 95% confidence, never a negative weight), then moves from the current
weights towards it by n / (n + prior_n): with few outcomes the current weights barely move, with many
the evidence dominates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

Numbers = Sequence[float] | NDArray[np.float64]

BOOTSTRAP_SAMPLES = 1000
SEED = 20_250_314


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho of one dimension with one outcome, its 95% bootstrap interval and the sample size."""

    dimension: str
    rho: float
    low: float
    high: float
    n: int


def _pearson_rows(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pearson correlation of each row of x with the same row of y (0 where either row is constant)."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    numerator = (xc * yc).sum(axis=1)
    result: NDArray[np.float64] = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
    return result


def spearman(x: Numbers, y: Numbers) -> float:
    """Spearman's rank correlation; 0 when either side has no variation."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("spearman needs two sequences of the same length, at least 2 long")
    rx = rankdata(np.asarray(x, dtype=float))[None, :]
    ry = rankdata(np.asarray(y, dtype=float))[None, :]
    return float(_pearson_rows(rx, ry)[0])


def correlate(
    dimension: str, x: Numbers, y: Numbers, samples: int = BOOTSTRAP_SAMPLES, seed: int = SEED
) -> Correlation:
    """rho of x with y and the 2.5-97.5 percentile interval of rho over bootstrap resamples of the pairs."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(xs)
    picks = np.random.default_rng(seed).integers(0, n, size=(samples, n))
    # Ranks within each resample (duplicates of a pair tie with each other, as they should).
    rx = rankdata(xs[picks], axis=1)
    ry = rankdata(ys[picks], axis=1)
    rhos = _pearson_rows(rx, ry)
    low, high = np.percentile(rhos, [2.5, 97.5])
    return Correlation(dimension, round(spearman(xs, ys), 4), round(float(low), 4), round(float(high), 4), n)


@dataclass(frozen=True)
class Proposal:
    """New weights (summing to 1) beside the current ones (normalised), and how much the evidence counted."""

    current: dict[str, float]
    evidence: dict[str, float] | None  # weights the evidence alone suggests; None when it supports none
    proposed: dict[str, float]
    evidence_share: float  # n / (n + prior_n), 0 when the evidence supports no dimension


def normalise(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be non-negative with a positive sum: {dict(weights)}")
    return {k: w / total for k, w in weights.items()}


def propose_weights(current: Mapping[str, float], correlations: Sequence[Correlation], prior_n: float) -> Proposal:
    """Weights of the competencies in `current`, moved towards what the correlations support."""
    if prior_n <= 0:
        raise ValueError("prior_n must be positive")
    now = normalise(current)
    by_dimension = {c.dimension: c for c in correlations}
    support = {d: max(by_dimension[d].low, 0.0) if d in by_dimension else 0.0 for d in now}
    if sum(support.values()) <= 0:
        return Proposal(now, None, dict(now), 0.0)
    evidence = normalise(support)
    n = min((by_dimension[d].n for d in now if d in by_dimension), default=0)
    share = n / (n + prior_n)
    proposed = {d: share * evidence[d] + (1 - share) * now[d] for d in now}
    return Proposal(now, evidence, normalise(proposed), share)
