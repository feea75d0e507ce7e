"""`sightline calibrate`: propose (and with --apply, write) a job's competency weights from hiring outcomes."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from services.calibrate.calibration import (
    DEFAULT_MIN_SAMPLE,
    DEFAULT_PRIOR_N,
    CalibrationRefused,
    apply,
    calibrate,
    summary,
)
from services.calibrate.outcomes import load_observations
from services.calibrate.rescore import current_models, publish_requests, rescore_requests
from services.common.competency import CompetencyModelError, CompetencyModelLibrary
from services.common.contracts import CompetencyModelRef
from services.common.settings import get_settings

EXIT_PROBLEM = 1
EXIT_UNREACHABLE = 3


@click.command("calibrate")
@click.option("--tenant", required=True, help="Tenant whose outcomes are used.")
@click.option("--job", required=True, help="Job (requisition) id whose competency weights are calibrated.")
@click.option("--apply", "write", is_flag=True, help="Write the proposal as a new version of the job's model.")
@click.option("--outcome", help="Outcome rating to learn from, MEASURE[@MONTHS] (default: the most recorded).")
@click.option(
    "--min-sample", type=click.IntRange(2), default=DEFAULT_MIN_SAMPLE, show_default=True,
    help="Fewest outcomes to calibrate from; below it the command refuses.",
)  # fmt: skip
@click.option(
    "--prior-n", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_PRIOR_N, show_default=True,
    help="How many outcomes the current weights are worth: the evidence counts n / (n + prior_n).",
)  # fmt: skip
@click.option(
    "--rescore/--no-rescore", default=True, show_default=True,
    help="With --apply: ask fusion to score the job's interviews again with the new version.",
)  # fmt: skip
@click.option(
    "--models-dir", type=click.Path(file_okay=False, path_type=Path),
    help="Competency-model directory [default: SIGHTLINE_SPEECH__COMPETENCY_MODELS_DIR].",
)  # fmt: skip
def calibrate_cmd(
    tenant: str,
    job: str,
    write: bool,
    outcome: str | None,
    min_sample: int,
    prior_n: float,
    rescore: bool,
    models_dir: Path | None,
) -> None:
    """Correlate a job's dimension scores with later outcomes and propose new competency weights.

    Uses the profile version each reviewer decided on and the latest outcome of each interview. Prints the
    rank correlation of every dimension with the outcome (95% bootstrap interval, n) and the proposed
    weights in plain language. Nothing changes without --apply, which writes the job's competency model as
    a new version with its provenance and asks fusion to score the job's interviews again with it (new
    profile versions; the old ones stay). Exit code 1 when the data cannot support a calibration, 3 when
    the database or the broker cannot be reached.
    """
    from services.access import Action
    from services.identity.commands import authorized, reading

    authorized(Action.CALIBRATE_APPLY if write else Action.CALIBRATE, tenant, subject=f"calibrate {job}")
    settings = get_settings()
    directory = models_dir or settings.speech.competency_models_dir
    try:
        library = CompetencyModelLibrary.from_directory(directory)
    except CompetencyModelError as exc:
        click.echo(f"cannot read the competency models: {exc}", err=True)
        sys.exit(EXIT_PROBLEM)
    with reading(
        Action.CALIBRATE, "reading outcomes failed", tenant_id=tenant, subject=f"outcomes of job {job}"
    ) as reads:
        observations = load_observations(reads, tenant, job)
        scored_with = current_models(reads, tenant, job)
    try:
        result = calibrate(observations, library, tenant, job, outcome=outcome, min_sample=min_sample, prior_n=prior_n)
    except CalibrationRefused as exc:
        click.echo(f"calibration refused: {exc}", err=True)
        sys.exit(EXIT_PROBLEM)
    click.echo(summary(result))
    if not write:
        click.echo("\nNothing was changed. Run again with --apply to write this as a new model version.")
        return
    path, model = apply(result, library, directory)
    click.echo(f"\nWrote {path}: version {model.version} of {model.id} (older versions are kept).")
    if not rescore:
        return
    interviews = [i for i, model_id in scored_with.items() if model_id == model.id]
    reason = f"sightline calibrate --apply: {model.id} {model.version} from {result.n} outcomes ({result.outcome})"
    ref = CompetencyModelRef(id=model.id, version=model.version)
    try:
        asyncio.run(publish_requests(settings.kafka, rescore_requests(tenant, interviews, ref, reason)))
    except Exception as exc:
        click.echo(
            f"could not ask fusion to score again ({settings.kafka.bootstrap_servers}: {exc}); the new version is "
            "written, run again with --apply to retry (the requests repeat their ids)",
            err=True,
        )
        sys.exit(EXIT_UNREACHABLE)
    click.echo(
        f"Asked fusion to score {len(interviews)} interview(s) of job {job} again with it (new profile versions)."
    )
