"""`sightline calibrate`: from outcomes to proposed competency weights, and (with --apply) a new model version.

Weights never change silently: without ``--apply`` nothing is written; with it, the job's competency model
is written as a *new version* next to the old one (the old file stays, profiles keep saying which version
scored them), carrying its provenance: data window, n, outcome, method and the correlations. Below the
minimum sample the command refuses instead of fitting weights to noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from services.calibrate.outcomes import Observation
from services.calibrate.stats import Correlation, Proposal, correlate, propose_weights
from services.common.competency import (
    Competency,
    CompetencyModel,
    CompetencyModelLibrary,
    Provenance,
    UnknownCompetencyModel,
)

DEFAULT_MIN_SAMPLE = 30
DEFAULT_PRIOR_N = 100.0
METHOD = (
    "Spearman rank correlation of each competency score (profile version decided on) with the outcome rating; "
    "95% bootstrap intervals ({samples} resamples); evidence weights proportional to the lower interval bound "
    "(non-negative); blended with the previous weights by n / (n + {prior_n:g})."
)
_CAL = "+cal."


class CalibrationRefused(RuntimeError):
    """The data cannot support a calibration; the message says why and what would."""


@dataclass(frozen=True)
class Calibration:
    tenant_id: str
    job_id: str
    outcome: str
    model: CompetencyModel
    observations: Sequence[Observation]
    correlations: Sequence[Correlation]  # every dimension of the profiles, best first
    proposal: Proposal  # competencies of the model only
    prior_n: float
    samples: int

    @property
    def n(self) -> int:
        return len(self.observations)


def _choose_outcome(observations: Sequence[Observation], wanted: str | None) -> str:
    counts: dict[str, int] = {}
    for o in observations:
        for key in o.ratings:
            counts[key] = counts.get(key, 0) + 1
    if wanted is not None:
        if wanted not in counts:
            known = ", ".join(sorted(counts)) or "none"
            raise CalibrationRefused(f"no outcome rating {wanted!r} for this job (ratings recorded: {known})")
        return wanted
    if not counts:
        raise CalibrationRefused("no outcome with a performance rating has been recorded for this job yet")
    return max(sorted(counts), key=lambda k: counts[k])  # most observations; ties: the last name


def calibrate(
    observations: Sequence[Observation],
    library: CompetencyModelLibrary,
    tenant_id: str,
    job_id: str,
    *,
    outcome: str | None = None,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    prior_n: float = DEFAULT_PRIOR_N,
    samples: int = 1000,
) -> Calibration:
    """Correlate every dimension with the outcome and propose competency weights; CalibrationRefused when
    the data cannot support it."""
    key = _choose_outcome(observations, outcome)
    usable = [o for o in observations if key in o.ratings]
    if len(usable) < min_sample:
        raise CalibrationRefused(
            f"only {len(usable)} reviewed interview(s) of job {job_id} (tenant {tenant_id}) have the outcome {key}; "
            f"calibration needs at least {min_sample}, fewer would fit weights to noise. Nothing was changed."
        )
    latest = max(usable, key=lambda o: o.decided_at)
    try:
        model = library.get(*latest.competency_model)
    except UnknownCompetencyModel as exc:
        raise CalibrationRefused(f"cannot calibrate: {exc}") from None
    dimensions = sorted({d for o in usable for d in o.scores})
    correlations = []
    for dimension in dimensions:
        pairs = [(o.scores[dimension], o.ratings[key]) for o in usable if dimension in o.scores]
        if len(pairs) >= 2:
            xs, ys = zip(*pairs, strict=True)
            correlations.append(correlate(dimension, xs, ys, samples=samples))
    correlations.sort(key=lambda c: (-c.rho, c.dimension))
    current = {c.id: c.weight for c in model.competencies}
    proposal = propose_weights(current, correlations, prior_n)
    return Calibration(tenant_id, job_id, key, model, usable, correlations, proposal, prior_n, samples)


def _verdict(c: Correlation) -> str:
    if c.low > 0:
        return "predicts the outcome (the whole interval is above zero)"
    if c.high < 0:
        return "ranks candidates against the outcome (the whole interval is below zero)"
    return "no reliable relation (the interval includes zero)"


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def summary(cal: Calibration) -> str:
    """What the data says and what would change, in plain language."""
    model, p = cal.model, cal.proposal
    decided = [o.decided_at for o in cal.observations]
    lines = [
        f"Job {cal.job_id} (tenant {cal.tenant_id}), competency model {model.id} version {model.version}: "
        f"{cal.n} reviewed interviews with the outcome {cal.outcome}, decided {_day(min(decided))} to "
        f"{_day(max(decided))}, outcomes recorded up to {_day(max(o.recorded_at for o in cal.observations))}.",
        "",
        f"How well each dimension of the profile decided on ranks candidates by {cal.outcome} "
        "(Spearman's rho, 95% bootstrap interval, n):",
    ]
    competencies = set(p.current)
    for c in cal.correlations:
        kind = "" if c.dimension in competencies else " [behaviour: reported, not weighted here]"
        lines.append(f"  {c.dimension:<24} {c.rho:+.2f} [{c.low:+.2f}, {c.high:+.2f}]  n={c.n:<5} {_verdict(c)}{kind}")
    lines.append("")
    if p.evidence is None:
        lines.append(
            "No competency predicts the outcome reliably, so the evidence supports no change: the proposed weights "
            "are the current ones."
        )
    else:
        lines.append(
            f"Proposed competency weights: the evidence counts {p.evidence_share:.0%} (n={cal.n} against a prior "
            f"of {cal.prior_n:g}), the current weights the rest."
        )
    for dimension, now in sorted(p.current.items(), key=lambda kv: -p.proposed[kv[0]]):
        new = p.proposed[dimension]
        change = "unchanged" if abs(new - now) < 0.005 else ("up" if new > now else "down")
        lines.append(f"  {dimension:<24} {now:6.1%} -> {new:6.1%}  {change}")
    risers = [d for d in p.current if p.proposed[d] > p.current[d] + 0.005]
    fallers = [d for d in p.current if p.proposed[d] < p.current[d] - 0.005]
    if risers or fallers:
        lines.append("")
        if risers:
            lines.append(f"Up: {', '.join(risers)}, because their scores reliably rank candidates by the outcome.")
        if fallers:
            lines.append(f"Down: {', '.join(fallers)}, because the outcomes give them less support than their weight.")
    return "\n".join(lines)


def next_version(model: CompetencyModel, library: CompetencyModelLibrary, today: datetime) -> str:
    """``<base>+cal.<yyyymmdd>`` (``.2``, ``.3`` ... when that exists): the base is the uncalibrated version."""
    base = model.version.split(_CAL, 1)[0]
    candidate = f"{base}{_CAL}{today:%Y%m%d}"
    taken = {m.version for m in library if m.id == model.id}
    suffix = 2
    version = candidate
    while version in taken:
        version = f"{candidate}.{suffix}"
        suffix += 1
    return version


def calibrated_model(cal: Calibration, version: str, now: datetime) -> CompetencyModel:
    """The model with the proposed weights (percent, summing to 100) and its provenance."""
    weights = {d: max(round(100 * w, 2), 0.01) for d, w in cal.proposal.proposed.items()}  # the format needs > 0
    competencies: list[Competency] = [c.model_copy(update={"weight": weights[c.id]}) for c in cal.model.competencies]
    decided = [o.decided_at for o in cal.observations]
    provenance = Provenance(
        method=METHOD.format(samples=cal.samples, prior_n=cal.prior_n),
        based_on_version=cal.model.version,
        tenant_id=cal.tenant_id,
        job_id=cal.job_id,
        outcome=cal.outcome,
        n=cal.n,
        decided_from=min(decided).isoformat(),
        decided_to=max(decided).isoformat(),
        outcomes_recorded_to=max(o.recorded_at for o in cal.observations).isoformat(),
        evidence_share=round(cal.proposal.evidence_share, 4),
        correlations={c.dimension: c.rho for c in cal.correlations if c.dimension in cal.proposal.current},
        created_at=now.isoformat(),
    )
    data = cal.model.model_dump(mode="json")
    data.update(
        version=version,
        competencies=[c.model_dump(mode="json") for c in competencies],
        provenance=provenance.model_dump(mode="json"),
    )
    return CompetencyModel.model_validate(data)


def apply(
    cal: Calibration, library: CompetencyModelLibrary, directory: Path, now: datetime | None = None
) -> tuple[Path, CompetencyModel]:
    """Write the calibrated model as a new version beside the others; returns the new file and model."""
    now = now or datetime.now(UTC)
    model = calibrated_model(cal, next_version(cal.model, library, now), now)
    path = directory / f"{model.id}-{model.version}.yaml"
    header = (
        f"# Calibrated by `sightline calibrate` from {cal.n} outcomes of job {cal.job_id}: see provenance.\n"
        "# Format: docs/competency-models.md. Write a new version instead of editing this one.\n"
    )
    body = yaml.safe_dump(model.model_dump(mode="json", exclude_none=True), allow_unicode=True, sort_keys=False)
    path.write_text(header + body, encoding="utf-8")
    return path, model
