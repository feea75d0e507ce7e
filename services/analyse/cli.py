"""``sightline analyse`` and ``sightline models list``."""

from __future__ import annotations

import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click
from rich.table import Table

from services.access import AccessDenied
from services.analyse.consent import DEFAULT_SCOPES, ConsentError, resolve_consent
from services.analyse.events import DEFAULT_JOB, DEFAULT_JURISDICTION, LOCALES, Options
from services.analyse.identity import analyse_caller
from services.analyse.inputs import MEDIA_EXTENSIONS, InputError, expand
from services.analyse.pipeline import bring_up
from services.analyse.run import Runner, StageExited, prepare, print_summaries
from services.analyse.state import StateFile
from services.common.competency import CompetencyModelError, CompetencyModelLibrary
from services.common.console import make_console
from services.common.settings import get_settings
from services.common.stack import StackError
from services.identity.tokens import IdentityError

EXIT_PROBLEM, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 1, 2, 3, 130

console = make_console()
err_console = make_console(stderr=True)


def _library() -> CompetencyModelLibrary:
    directory = get_settings().speech.competency_models_dir
    try:
        return CompetencyModelLibrary.from_directory(directory)
    except CompetencyModelError as exc:
        err_console.print(f"[red]{exc}")
        sys.exit(EXIT_PROBLEM)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("analyse")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--job", help=f"Competency model of the job, ID or ID@VERSION (`sightline models list`) [default: {DEFAULT_JOB}]."
)
@click.option(
    "--questions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML/JSON list of the questions asked: text, optional start and end seconds [default: the job's "
    "question bank, windows unknown].",
)
@click.option(
    "--language",
    type=click.Choice(list(LOCALES)),
    default="auto",
    show_default=True,
    help="Language of the interviews; auto leaves it to speech's language detection.",
)
@click.option(
    "--jurisdiction",
    default=DEFAULT_JURISDICTION,
    show_default=True,
    help="Where the interview took place (ISO 3166: DE, US-IL, CN; EU): its policy decides what may run.",
)
@click.option(
    "--consent",
    "consent_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The candidates' consent record (JSON/YAML: granted, scopes, version, granted_at, record_ref).",
)
@click.option(
    "--consent-scopes",
    help=f"The candidates consented to these scopes (comma-separated), or 'default' = {','.join(DEFAULT_SCOPES)}.",
)
@click.option(
    "--stages",
    type=click.Choice(["auto", "none"]),
    default="auto",
    show_default=True,
    help="auto: start the local stack and the stages no running pipeline consumes for; none: use the pipeline "
    "the settings point at as it is.",
)
@click.option("--tenant", default="local", show_default=True, help="Tenant the interviews belong to.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Interviews in the pipeline at once.")  # fmt: skip
@click.option("--timeout", "timeout_s", type=click.FloatRange(1), default=1800.0, show_default=True,
              help="Seconds an interview may take before it counts as failed.")  # fmt: skip
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where finished interviews are recorded [default: SIGHTLINE_STACK__HOME/analyse/finished.jsonl].",
)
def analyse_cmd(
    paths: tuple[Path, ...],
    job: str | None,
    questions: Path | None,
    language: str,
    jurisdiction: str,
    consent_file: Path | None,
    consent_scopes: str | None,
    stages: str,
    tenant: str,
    concurrency: int,
    timeout_s: float,
    state_path: Path | None,
) -> None:
    """Analyse recordings: PATHS are media files, directories (every media file in them) or CSV/JSONL
    manifests (columns path, candidate_ref, job, questions, language, jurisdiction).

    Starts the local stack and the six stages when they are not running (and stops what it started),
    publishes one interview-completed event per recording, shows progress per recording and stage, and
    prints each profile with its report. Consent is never assumed: give --consent FILE or --consent-scopes
    (default scopes: video_analysis, audio_analysis, transcription, face_analysis, automated_scoring).
    A re-run skips the interviews already analysed (same file, same options). Exit code 0 when every
    recording has a profile, 1 when one failed, 2 for bad input or no consent, 3 when the stack is
    unreachable, 130 when interrupted.
    """
    settings = get_settings()
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        consent = resolve_consent(consent_file, consent_scopes, now)
        recordings = expand(paths)
    except (ConsentError, InputError) as exc:
        err_console.print(f"[red]refused: {exc}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    if not recordings:
        known = ", ".join(sorted(MEDIA_EXTENSIONS))
        err_console.print(f"[red]no recordings in {', '.join(map(str, paths))} (media files: {known})")
        sys.exit(EXIT_USAGE)
    options = Options(consent, tenant, job, questions, language, jurisdiction)
    state = StateFile(state_path or settings.stack.home / "analyse" / "finished.jsonl")
    say = err_console.print
    batch = prepare(recordings, options, _library(), state.load(), now, say)
    code = 0
    if batch.planned:
        try:
            caller, stage_env = analyse_caller(settings, tenant)
        except (IdentityError, AccessDenied) as exc:
            err_console.print(f"[red]refused: {exc}", soft_wrap=True)
            sys.exit(EXIT_USAGE)
        signal.signal(signal.SIGTERM, _interrupt)
        pipeline = None
        try:
            pipeline = bring_up(settings, say, start=stages == "auto", env=stage_env)
            say(f"analysing {len(batch.planned)} recording(s), {concurrency} at a time, as {caller.identity}")
            runner = Runner(
                settings, pipeline, state, console, concurrency=concurrency, timeout_s=timeout_s, caller=caller
            )
            runner.run(batch)
        except KeyboardInterrupt:
            done = sum(1 for s in batch.results.values() if s.ok)
            say(f"[yellow]interrupted; {done} finished and recorded in {state.path}: the same command resumes")
            code = EXIT_INTERRUPTED
        except StageExited as exc:
            say(f"[red]{exc}")
            code = EXIT_PROBLEM
        except (StackError, OSError) as exc:
            say(f"[red]the pipeline could not be reached or started: {exc}")
            code = EXIT_UNREACHABLE
        except Exception as exc:  # the broker's client errors (connection refused, timeouts)
            if type(exc).__module__.startswith("aiokafka"):
                say(f"[red]could not reach the broker at {settings.kafka.bootstrap_servers}: {exc}")
                code = EXIT_UNREACHABLE
            else:
                raise
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if pipeline is not None:
                pipeline.stop(say)
    print_summaries(console, batch.summaries)
    sys.exit(code or (0 if batch.ok else EXIT_PROBLEM))


@click.group("models")
def models() -> None:
    """Competency models: what a job's answers are scored against (competency-models/)."""


@models.command("list")
def models_list() -> None:
    """The shipped competency models: id, version, role, competencies and weights, questions."""
    library = _library()
    table = Table("id", "version", "role", "competencies (weight)", "questions", "recommend / reject at")
    for model in sorted(library, key=lambda m: (m.id, m.version)):
        total = sum(c.weight for c in model.competencies)
        weights = ", ".join(f"{c.id} {c.weight / total:.0%}" for c in model.competencies)
        table.add_row(model.id, model.version, model.title.en, weights, str(len(model.questions)),
                      f"{model.thresholds.recommend:g} / {model.thresholds.reject:g}")  # fmt: skip
    console.print(table)


__all__ = ["analyse_cmd", "models"]
