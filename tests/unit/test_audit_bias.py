"""The bias audit's computations: a small table worked by hand, and generated populations with and without
a bias injected into one measure for one group."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from services.audit.bias import (
    HUMAN,
    INTERSECTION,
    RACE,
    SCORING,
    SEX,
    SUGGESTED,
    Applicant,
    BiasAudit,
    bias_audit,
    effect_size,
    rate_table,
)

WHEN = datetime(2026, 12, 1, 12, tzinfo=UTC)


def audit(applicants: list[Applicant], **kw: object) -> BiasAudit:
    return bias_audit(
        applicants,
        tenant_id="acme-us",
        job_id=None,
        data_from=date(2026, 1, 1),
        data_to=date(2026, 11, 30),
        generated_at=WHEN,
        **kw,  # type: ignore[arg-type]
    )


def applicants_of(spec: list[tuple[str | None, str | None, int, int]]) -> list[Applicant]:
    """(sex, race, applicants, of whom recommended) → applicants with those categories and labels."""
    out = []
    for sex, race, n, selected in spec:
        for i in range(n):
            out.append(
                Applicant(
                    candidate_ref=f"cand_{len(out):04d}x1",
                    interview_id=f"IV-{len(out)}",
                    job_id="REQ-1",
                    sex=sex,
                    race_ethnicity=race,
                    overall=None,
                    suggested_label="recommend" if i < selected else "reject",
                )
            )
    return out


# 14 applicants: counts and rates below are worked by hand from this table.
SMALL = [
    ("female", "white", 4, 3),
    ("female", "asian", 2, 1),
    ("male", "white", 4, 2),
    ("male", "asian", 2, 0),
    ("male", "declined_to_answer", 1, 1),  # known sex, unknown race
    (None, None, 1, 1),  # no self-identification on record
]


def rates(result: BiasAudit, rate: str, axis: str) -> dict[str, tuple[int, int, float | None]]:
    table = result.table(rate, axis)
    assert table is not None
    return {c.category: (c.applicants, c.selected, c.impact_ratio) for c in table.categories}


def test_selection_rates_and_impact_ratios_of_a_small_table_by_hand() -> None:
    result = audit(applicants_of(SMALL))
    assert result.applicants == 14
    sex = result.table(SUGGESTED, SEX)
    assert sex is not None and sex.unknown == 1 and sex.total == 14
    # female 4/6 = 0.667 is the most selected; male 3/7 = 0.429; ratio (3/7)/(4/6) = 9/14.
    assert rates(result, SUGGESTED, SEX) == {"female": (6, 4, 1.0), "male": (7, 3, pytest.approx(9 / 14))}
    # white 5/8 = 0.625, asian 1/4 = 0.25: ratio 0.4. Unknown: the declined race and the missing answer.
    assert rates(result, SUGGESTED, RACE) == {"asian": (4, 1, pytest.approx(0.4)), "white": (8, 5, 1.0)}
    assert result.table(SUGGESTED, RACE).unknown == 2  # type: ignore[union-attr]
    assert rates(result, SUGGESTED, INTERSECTION) == {
        "female/white": (4, 3, 1.0),  # 0.75, the reference
        "female/asian": (2, 1, pytest.approx(0.5 / 0.75)),
        "male/white": (4, 2, pytest.approx(0.5 / 0.75)),
        "male/asian": (2, 0, 0.0),
    }
    assert result.table(SUGGESTED, INTERSECTION).unknown == 2  # type: ignore[union-attr]


def test_flags_carry_fisher_p_and_a_small_sample_warning() -> None:
    result = audit(applicants_of(SMALL))
    flagged = {(f.rate, f.axis, f.category) for f in result.flags}
    assert flagged == {
        (SUGGESTED, SEX, "male"),
        (SUGGESTED, RACE, "asian"),
        (SUGGESTED, INTERSECTION, "female/asian"),
        (SUGGESTED, INTERSECTION, "male/white"),
        (SUGGESTED, INTERSECTION, "male/asian"),
    }
    male = next(f for f in result.flags if f.category == "male")
    # Hypergeometric by hand: [[3, 4], [4, 2]] has probabilities k/1716 for k in 7, 126, 525, 700, 315, 42, 1;
    # the two-sided p sums those no larger than the observed 525.
    assert male.fisher_p == pytest.approx((7 + 126 + 525 + 315 + 42 + 1) / 1716)
    assert male.small_sample and male.reference == "female"
    asian = next(f for f in result.flags if f.category == "asian")
    assert asian.fisher_p == pytest.approx((15 + 120 + 120 + 15) / 495)


def test_categories_under_the_minimum_share_are_reported_but_not_compared() -> None:
    outcomes = [("a", True)] * 60 + [("a", False)] * 40 + [("b", True)] * 1 + [("b", False)] * 1 + [(None, True)]
    table = rate_table(SUGGESTED, SEX, outcomes)
    b = next(c for c in table.categories if c.category == "b")
    assert b.excluded and b.share == pytest.approx(2 / 103) and b.rate == 0.5
    assert b.impact_ratio is None and not b.flagged and table.unknown == 1
    # The same category at 2 % or more is compared (and flagged: 0.5 / 0.6 < 0.8).
    kept = rate_table(SUGGESTED, SEX, outcomes, min_share=0.01)
    assert next(c for c in kept.categories if c.category == "b").impact_ratio == pytest.approx(0.5 / 0.6)


def test_human_decisions_and_scoring_rates() -> None:
    people = applicants_of(SMALL)
    overall = [80, 70, 60, 50, 90, 40, 55, 65, 75, 45, 30, 35, 85, None]
    decided = ["recommend", "reject", "recommend", None, "recommend", "recommend"] + [None] * 8
    people = [
        Applicant(**{**p.__dict__, "overall": s, "human_label": h})
        for p, s, h in zip(people, overall, decided, strict=True)
    ]
    result = audit(people)
    assert result.scored == 13 and result.median_overall == 60 and result.reviewed == 5
    # Above the median of 60: female 80, 70, 90 of 6 scored; male 65, 75, 85 of 7.
    assert rates(result, SCORING, SEX) == {"female": (6, 3, 1.0), "male": (7, 3, pytest.approx((3 / 7) / 0.5))}
    # Human decisions: only the five reviewed, all female: 4 of 5 recommended.
    assert rates(result, HUMAN, SEX) == {"female": (5, 4, 1.0)}
    assert audit(applicants_of(SMALL)).table(HUMAN, SEX) is None


# ---- generated populations ------------------------------------------------------------------------------------

RACES = ["white", "black_or_african_american", "hispanic_or_latino", "asian"]


def population(n: int, *, seed: int, eye_contact_drop: dict[str, float] | None = None) -> list[Applicant]:
    """Applicants whose ability is independent of their categories. `eye_contact_drop` lowers the measured eye
    contact of a race (as a gaze model that sees some faces worse would); confidence is built from it and the
    overall score from confidence, problem solving and communication; above 60 is recommended."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sex = rng.choice(["female", "male"])
        race = rng.choice(RACES)
        ability = rng.gauss(0, 1)
        eye = min(1.0, max(0.0, rng.gauss(0.6, 0.1) - (eye_contact_drop or {}).get(race, 0.0)))
        measures = {
            "problem-solving": 60 + 12 * ability + rng.gauss(0, 8),
            "communication": 60 + 10 * ability + rng.gauss(0, 8),
            "eye_contact_ratio": eye,
            "confidence": 20 + 40 * eye + 8 * ability + rng.gauss(0, 4),
        }
        overall = (measures["problem-solving"] + measures["communication"] + measures["confidence"]) / 3
        out.append(
            Applicant(
                candidate_ref=f"cand_{i:05d}x",
                interview_id=f"IV-{i}",
                job_id="REQ-1",
                sex=sex,
                race_ethnicity=race,
                overall=overall,
                suggested_label="recommend" if overall > 60 else "reject",
                measures=measures,
            )
        )
    return out


def test_an_unbiased_population_is_not_flagged() -> None:
    result = audit(population(12_000, seed=7))
    assert result.flags == ()
    ratios = [c.impact_ratio for t in result.tables for c in t.categories if c.impact_ratio is not None]
    assert len(ratios) == 2 * (2 + 4 + 8)  # suggested selection and scoring, every category compared
    assert sum(ratios) / len(ratios) > 0.9


def test_a_bias_injected_into_eye_contact_for_one_group_is_flagged_and_the_measure_named() -> None:
    black = "black_or_african_american"
    result = audit(population(12_000, seed=7, eye_contact_drop={black: 0.4}))
    flagged = {(f.rate, f.axis, f.category) for f in result.flags}
    assert (SUGGESTED, RACE, black) in flagged and (SCORING, RACE, black) in flagged
    assert {(SUGGESTED, INTERSECTION, f"{sex}/{black}") for sex in ("female", "male")} <= flagged
    assert all(black in category for _, _, category in flagged), "only the group with the bias is flagged"
    for flag in result.flags:
        named = [d.measure for d in flag.drivers]
        assert named == ["eye_contact_ratio", "confidence"], named  # largest gap first; the others not named
        assert flag.drivers[0].effect_size < -2 and not flag.small_sample and flag.fisher_p is not None
        assert flag.fisher_p < 1e-6
    # The breakdown shows the gap where a reviewer looks: mean eye contact by race.
    (eye,) = [m for m in result.measures if m.measure == "eye_contact_ratio" and m.axis == RACE]
    means = {s.category: s.mean for s in eye.categories}
    assert means[black] == pytest.approx(0.2, abs=0.02) and means["white"] == pytest.approx(0.6, abs=0.02)


def test_effect_size_is_cohens_d() -> None:
    assert effect_size([1.0, 2.0, 3.0], [3.0, 4.0, 5.0]) == pytest.approx(-2.0)
    assert effect_size([1.0], [2.0, 3.0]) is None
    assert effect_size([1.0, 1.0], [1.0, 1.0]) is None


def test_with_nobody_selected_no_ratio_is_claimed_and_small_counts_are_marked() -> None:
    table = rate_table("selection_suggested", "sex", [("female", False), ("male", False), (None, False)])
    assert table.unknown == 1
    assert all(r.impact_ratio is None and not r.reference and r.small_sample for r in table.categories)
    assert not any(r.flagged for r in table.categories)
