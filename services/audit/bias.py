"""The adverse-impact computations of a bias audit, as NYC Local Law 144's rules (6 RCNY §5-300, 5-301) define
them: pure functions over applicants, no I/O.

* **Selection rate** of a category: the share of its applicants who were selected (here: the suggested label
  ``recommend``, and separately the human reviewer's final label ``recommend`` where one was recorded).
* **Scoring rate**: the share of a category's applicants whose overall score is above the median score of the
  whole sample.
* **Impact ratio**: a category's rate divided by the rate of the most selected (highest scoring) category, for
  sex, race/ethnicity and their intersections. Categories under ``min_share`` (2 %) of the data are reported
  but, as the rules allow, left out of the ratios; applicants without a self-identification (or who declined)
  are counted as unknown and left out of every rate.
* A ratio under 0.8 (the four-fifths rule) is **flagged**; where counts are low the flag carries a small-sample
  warning, and every comparison carries Fisher's exact test p-value against the reference category.
* **Measures** (dimension scores and raw behaviour measures) are broken down by the same categories, and each
  flag names the measures on which the flagged category differs most from the reference (standardised mean
  difference), so a reviewer can see which measure drives a gap.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from scipy.stats import fisher_exact

#: What the HR system's self-identification says when the candidate chose not to answer.
DECLINED = "declined_to_answer"
#: The axes of the audit: each category of an applicant, by axis.
SEX, RACE, INTERSECTION = "sex", "race_ethnicity", "intersection"
AXES = (SEX, RACE, INTERSECTION)
#: The rates the audit computes.
SUGGESTED, HUMAN, SCORING = "selection_suggested", "selection_human", "scoring"

FOUR_FIFTHS = 0.8
MIN_SHARE = 0.02
#: Below this many applicants in a compared category (or an expected cell under 5) a ratio is unstable.
SMALL_SAMPLE = 30
#: A standardised mean difference at least this large (Cohen's "medium") names a measure as a driver.
DRIVER_EFFECT = 0.5


@dataclass(frozen=True)
class Applicant:
    """One applicant for one job in the audit window: their latest profile, decision and self-identification."""

    candidate_ref: str
    interview_id: str
    job_id: str
    sex: str | None  # None: no self-identification on record
    race_ethnicity: str | None
    overall: float | None  # None: the profile had no overall score
    suggested_label: str  # recommend | pending | reject
    human_label: str | None = None  # final label of the current review decision; None: not reviewed
    measures: Mapping[str, float] = field(default_factory=dict)  # dimension scores and raw measures, by name

    def category(self, axis: str) -> str | None:
        """The applicant's category on ``axis``; None when unknown (not given or declined)."""
        sex = None if self.sex in (None, "", DECLINED) else self.sex
        race = None if self.race_ethnicity in (None, "", DECLINED) else self.race_ethnicity
        if axis == SEX:
            return sex
        if axis == RACE:
            return race
        return f"{sex}/{race}" if sex and race else None


@dataclass(frozen=True)
class CategoryRate:
    """One category's row of a rate table."""

    category: str
    applicants: int
    selected: int  # selected, or scored above the median
    rate: float
    share: float  # of all applicants in the table, unknowns included
    excluded: bool  # under the minimum share: reported, left out of the ratios
    reference: bool = False  # the most selected category, the ratios' denominator
    impact_ratio: float | None = None
    fisher_p: float | None = None
    small_sample: bool = False

    @property
    def flagged(self) -> bool:
        return self.impact_ratio is not None and self.impact_ratio < FOUR_FIFTHS


@dataclass(frozen=True)
class RateTable:
    """Selection or scoring rates of every category on one axis."""

    rate: str  # SUGGESTED, HUMAN or SCORING
    axis: str
    total: int  # applicants the rate applies to, unknowns included
    unknown: int
    categories: tuple[CategoryRate, ...]

    @property
    def reference(self) -> CategoryRate | None:
        return next((c for c in self.categories if c.reference), None)


@dataclass(frozen=True)
class MeasureStats:
    """A measure's distribution in one category."""

    category: str
    n: int
    mean: float
    p25: float
    median: float
    p75: float


@dataclass(frozen=True)
class MeasureBreakdown:
    measure: str
    axis: str
    categories: tuple[MeasureStats, ...]


@dataclass(frozen=True)
class Driver:
    """How far a flagged category sits from the reference on one measure."""

    measure: str
    effect_size: float  # (mean of the category - mean of the reference) / pooled standard deviation
    category_mean: float
    reference_mean: float


@dataclass(frozen=True)
class Flag:
    """An impact ratio under four fifths, with what drives it."""

    rate: str
    axis: str
    category: str
    reference: str
    impact_ratio: float
    applicants: int
    fisher_p: float | None
    small_sample: bool
    drivers: tuple[Driver, ...]


@dataclass(frozen=True)
class BiasAudit:
    """Everything the audit's HTML, CSV and JSON show."""

    tenant_id: str
    job_id: str | None
    data_from: date
    data_to: date
    generated_at: datetime
    distribution_date: date | None
    applicants: int
    scored: int
    median_overall: float | None
    reviewed: int
    human_decisions_recorded: bool
    tables: tuple[RateTable, ...]
    measures: tuple[MeasureBreakdown, ...]
    flags: tuple[Flag, ...]

    def table(self, rate: str, axis: str) -> RateTable | None:
        return next((t for t in self.tables if t.rate == rate and t.axis == axis), None)


# ---- rates ---------------------------------------------------------------------------------------------------


def _small(n_a: int, sel_a: int, n_b: int, sel_b: int) -> bool:
    total, selected = n_a + n_b, sel_a + sel_b
    if min(n_a, n_b) < SMALL_SAMPLE or total == 0:
        return True
    expected = [n * s / total for n in (n_a, n_b) for s in (selected, total - selected)]
    return min(expected) < 5


def _fisher(n_a: int, sel_a: int, n_b: int, sel_b: int) -> float:
    result = fisher_exact([[sel_a, n_a - sel_a], [sel_b, n_b - sel_b]], alternative="two-sided")
    return float(result.pvalue)


def rate_table(
    rate: str, axis: str, outcomes: Sequence[tuple[str | None, bool]], *, min_share: float = MIN_SHARE
) -> RateTable:
    """Rates and impact ratios from (category or None for unknown, selected) pairs, one per applicant."""
    total = len(outcomes)
    counts: dict[str, list[int]] = {}
    for category, selected in outcomes:
        if category is not None:
            n_sel = counts.setdefault(category, [0, 0])
            n_sel[0] += 1
            n_sel[1] += int(selected)
    unknown = total - sum(n for n, _ in counts.values())
    rows = {
        category: CategoryRate(category, n, sel, sel / n, n / total, excluded=n / total < min_share)
        for category, (n, sel) in sorted(counts.items())
    }
    compared = [r for r in rows.values() if not r.excluded]
    best = max(compared, key=lambda r: (r.rate, r.applicants), default=None)
    if best is None or best.rate == 0:
        # Nobody selected: impact ratios are undefined, and every count says whether it is too small to judge.
        for row in compared:
            rows[row.category] = replace(row, small_sample=row.applicants < SMALL_SAMPLE)
    else:
        rows[best.category] = replace(
            best, reference=True, impact_ratio=1.0, small_sample=best.applicants < SMALL_SAMPLE
        )
        for row in compared:
            if row is best:
                continue
            rows[row.category] = replace(
                row,
                impact_ratio=row.rate / best.rate,
                fisher_p=_fisher(row.applicants, row.selected, best.applicants, best.selected),
                small_sample=_small(row.applicants, row.selected, best.applicants, best.selected),
            )
    return RateTable(rate, axis, total, unknown, tuple(rows.values()))


# ---- measures ------------------------------------------------------------------------------------------------


def _quantiles(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def measure_breakdowns(applicants: Sequence[Applicant], axis: str) -> list[MeasureBreakdown]:
    """Mean and quartiles of every measure in every known category of ``axis``."""
    names = sorted({name for a in applicants for name in a.measures})
    out = []
    for name in names:
        by_category = _values_by_category(applicants, axis, name)
        stats = []
        for category, values in sorted(by_category.items()):
            p25, median, p75 = _quantiles(sorted(values))
            stats.append(MeasureStats(category, len(values), statistics.fmean(values), p25, median, p75))
        out.append(MeasureBreakdown(name, axis, tuple(stats)))
    return out


def _values_by_category(applicants: Iterable[Applicant], axis: str, measure: str) -> dict[str, list[float]]:
    by_category: dict[str, list[float]] = {}
    for a in applicants:
        category, value = a.category(axis), a.measures.get(measure)
        if category is not None and value is not None:
            by_category.setdefault(category, []).append(value)
    return by_category


def effect_size(values: Sequence[float], reference: Sequence[float]) -> float | None:
    """Cohen's d of ``values`` against ``reference`` (pooled standard deviation); None without spread."""
    if len(values) < 2 or len(reference) < 2:
        return None
    pooled = (
        (len(values) - 1) * statistics.variance(values) + (len(reference) - 1) * statistics.variance(reference)
    ) / (len(values) + len(reference) - 2)
    if pooled <= 0:
        return None
    return (statistics.fmean(values) - statistics.fmean(reference)) / math.sqrt(pooled)


def drivers(applicants: Sequence[Applicant], axis: str, category: str, reference: str) -> tuple[Driver, ...]:
    """Measures on which ``category`` differs from ``reference`` by at least a medium effect, largest first."""
    found = []
    for name in sorted({name for a in applicants for name in a.measures}):
        by_category = _values_by_category(applicants, axis, name)
        mine, theirs = by_category.get(category, []), by_category.get(reference, [])
        d = effect_size(mine, theirs)
        if d is not None and abs(d) >= DRIVER_EFFECT:
            found.append(Driver(name, d, statistics.fmean(mine), statistics.fmean(theirs)))
    return tuple(sorted(found, key=lambda drv: -abs(drv.effect_size)))


# ---- the audit -----------------------------------------------------------------------------------------------


def _rate_tables(
    rate: str, applicants: Sequence[Applicant], selected: Callable[[Applicant], bool], min_share: float
) -> list[RateTable]:
    return [
        rate_table(rate, axis, [(a.category(axis), selected(a)) for a in applicants], min_share=min_share)
        for axis in AXES
    ]


def bias_audit(
    applicants: Sequence[Applicant],
    *,
    tenant_id: str,
    job_id: str | None,
    data_from: date,
    data_to: date,
    generated_at: datetime,
    distribution_date: date | None = None,
    human_decisions_recorded: bool = True,
    min_share: float = MIN_SHARE,
) -> BiasAudit:
    """The whole audit of ``applicants`` (one per candidate and job)."""
    tables = _rate_tables(SUGGESTED, applicants, lambda a: a.suggested_label == "recommend", min_share)
    reviewed = [a for a in applicants if a.human_label is not None]
    if reviewed:
        tables += _rate_tables(HUMAN, reviewed, lambda a: a.human_label == "recommend", min_share)
    scored = [a for a in applicants if a.overall is not None]
    median = statistics.median(a.overall for a in scored if a.overall is not None) if scored else None
    if median is not None:
        tables += _rate_tables(SCORING, scored, lambda a: a.overall is not None and a.overall > median, min_share)
    flags = []
    for table in tables:
        reference = table.reference
        population = {SUGGESTED: applicants, HUMAN: reviewed, SCORING: scored}[table.rate]
        for row in table.categories:
            if row.flagged and reference is not None and row.impact_ratio is not None:
                flags.append(
                    Flag(
                        rate=table.rate,
                        axis=table.axis,
                        category=row.category,
                        reference=reference.category,
                        impact_ratio=row.impact_ratio,
                        applicants=row.applicants,
                        fisher_p=row.fisher_p,
                        small_sample=row.small_sample,
                        drivers=drivers(population, table.axis, row.category, reference.category),
                    )
                )
    return BiasAudit(
        tenant_id=tenant_id,
        job_id=job_id,
        data_from=data_from,
        data_to=data_to,
        generated_at=generated_at,
        distribution_date=distribution_date,
        applicants=len(applicants),
        scored=len(scored),
        median_overall=median,
        reviewed=len(reviewed),
        human_decisions_recorded=human_decisions_recorded,
        tables=tuple(tables),
        measures=tuple(m for axis in AXES for m in measure_breakdowns(applicants, axis)),
        flags=tuple(flags),
    )


__all__ = [
    "AXES",
    "DECLINED",
    "FOUR_FIFTHS",
    "HUMAN",
    "INTERSECTION",
    "MIN_SHARE",
    "RACE",
    "SCORING",
    "SEX",
    "SMALL_SAMPLE",
    "SUGGESTED",
    "Applicant",
    "BiasAudit",
    "CategoryRate",
    "Driver",
    "Flag",
    "MeasureBreakdown",
    "MeasureStats",
    "RateTable",
    "bias_audit",
    "drivers",
    "effect_size",
    "measure_breakdowns",
    "rate_table",
]
