"""`make demo`: the whole pipeline on the local stack, on three generated interviews.

Runs after `make up` (stack started, topics created, migrations applied). Generates three sample
interviews (two candidates for the same software-engineering job, one of them interviewed in Mandarin),
starts all six stages as separate processes, publishes the interview-completed events an HR system
would send, shows live progress per interview and stage, then prints the profiles and writes their
reports under ``.local/reports/``. Everything after the pipeline runs as identities of the demo's tenant
(services/identity/local.py, tokens under ``.local/identities/``): the reports are read as its analyst,
the console reads as its console identity, and each read lands in the access log. Then a reviewer confirms
one profile's label through the review console (services/demo_review.py) and sees it leave the queue once
the sink has stored the decision.

Re-running is idempotent: the same samples give the same event ids, so every stage re-emits the same
outputs, fusion re-emits the stored profile and the sink keeps one row per key; the reviewed profile stays
reviewed, so the queue is shown as it is.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.access import Action, authorize
from services.analyse.pipeline import DEPLOYED_STAGES, start_stages, stop_stages
from services.analyse.progress import StatusFeed, Tracker
from services.analyse.run import write_report
from services.common.console import make_console
from services.common.contracts import (
    CandidateDemographics,
    EventBase,
    InterviewCompleted,
    ProfileReady,
    deterministic_event_id,
    encode,
    message_headers,
    message_key,
    topic_for,
)
from services.common.envelope import create_kek_file
from services.common.kafka import create_producer, physical_topic
from services.common.objectstore import ObjectStore
from services.common.settings import Settings, get_settings
from services.common.stack import stack_status
from services.demo_review import review_one_profile
from services.identity.local import CONSOLE, LocalIdentities, ensure_local_identities
from services.identity.reads import IdentityReads
from services.identity.tokens import Caller, resolve_identity
from services.report import fmt

TIMEOUT_S = 20 * 60

console = make_console()


@dataclass(frozen=True)
class DemoInterview:
    interview_id: str
    lang: Literal["en", "zh"]
    candidate: Literal["strong", "weak"]
    variant: Literal["smiling", "neutral"]
    seed: int
    duration_s: float = 90.0


DEMO_INTERVIEWS = (
    DemoInterview("demo-en-strong", "en", "strong", "smiling", seed=7),
    DemoInterview("demo-en-weak", "en", "weak", "neutral", seed=8),
    DemoInterview("demo-zh-strong", "zh", "strong", "smiling", seed=9),
)


#: The demo candidates' voluntary self-identification (sex, race/ethnicity), published beside their interviews so
#: `sightline audit bias` has something to audit (docs/fairness.md); one candidate declined to answer.
SELF_IDENTIFICATION: dict[str, tuple[str, str]] = {
    "demo-en-strong": ("female", "black_or_african_american"),
    "demo-en-weak": ("male", "white"),
    "demo-zh-strong": ("declined_to_answer", "declined_to_answer"),
}


# ---- samples and events ---------------------------------------------------------------------------------


def _sample_events(settings: Settings) -> list[InterviewCompleted]:
    from services.samples.event import interview_event
    from services.samples.generate import generate_interview
    from services.samples.spec import SampleSpec

    events = []
    now = datetime.now(UTC).replace(microsecond=0)
    for demo in DEMO_INTERVIEWS:
        spec = SampleSpec(
            seed=demo.seed,
            duration=demo.duration_s,
            fps=10,
            lang=demo.lang,
            candidate=demo.candidate,
            variant=demo.variant,
        )
        with console.status(f"generating {demo.interview_id} ({demo.duration_s:.0f} s, {demo.lang}, {demo.candidate})"):
            result = generate_interview(spec, settings.stack.home / "samples", name=demo.interview_id)
        # Dated today: retention counts from the interview, and a fixed past date would expire the demo's data.
        events.append(interview_event(result, interview_id=demo.interview_id, ended=now))
    console.print(f"samples and their ground truth: {settings.stack.home / 'samples'}")
    return events


def self_identification(events: Iterable[InterviewCompleted]) -> list[CandidateDemographics]:
    """What the HR system would send from the candidates' self-identification forms, for the demo interviews."""
    out = []
    for event in events:
        sex, race = SELF_IDENTIFICATION[event.interview_id]
        out.append(
            CandidateDemographics(
                event_id=deterministic_event_id("demo", "candidate-demographics", event.tenant_id, event.candidate_ref),
                occurred_at=event.occurred_at,
                tenant_id=event.tenant_id,
                interview_id=event.interview_id,
                producer="sightline-demo",
                candidate_ref=event.candidate_ref,
                sex=sex,
                race_ethnicity=race,
                collected_at=event.interview_started_at,
                form_version="demo-1",
            )
        )
    return out


def audit_command(events: Iterable[InterviewCompleted], identities: LocalIdentities) -> str:
    """The bias audit over the demo's interviews, as the tenant's auditor."""
    events = list(events)
    tenant = events[0].tenant_id
    days = sorted({e.interview_started_at.date().isoformat() for e in events})
    return (
        f"{identities.shell(f'{tenant}-auditor')} sightline audit bias --tenant {tenant} "
        f"--from {days[0]} --to {days[-1]} --out .local/reports/bias-audit.html"
    )


def demo_identities(settings: Settings, tenant_id: str) -> LocalIdentities:
    return ensure_local_identities(settings.stack.home / "identities", tenant_id)


async def _publish(settings: Settings, events: Iterable[EventBase]) -> None:
    producer = create_producer(settings.kafka, "demo")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                physical_topic(settings.kafka, topic_for(event)),
                encode(event),
                key=message_key(event),
                headers=message_headers(event),
            )
    finally:
        await producer.stop()


# ---- progress -------------------------------------------------------------------------------------------


async def _follow(
    settings: Settings,
    tracker: Tracker,
    progress: Progress,
    tasks: dict[tuple[str, str], TaskID],
    since_ms: int,
) -> None:
    async with StatusFeed(settings, tracker, since_ms) as feed:
        deadline = time.monotonic() + TIMEOUT_S
        while not tracker.finished() and time.monotonic() < deadline:
            await feed.poll()
            for (interview, stage), task in tasks.items():
                done, total, failures = tracker.counts(interview, stage)
                label = f"{interview} {stage}" + (" [red](failures)" if failures else "")
                progress.update(task, total=max(total, 1), completed=done if total else 1, description=label)


# ---- results --------------------------------------------------------------------------------------------


def _write_reports(settings: Settings, profiles: Iterable[ProfileReady], analyst: Caller) -> dict[str, Path]:
    """The stored reports, read as the tenant's analyst: each read is authorised and written to the access log."""
    store = ObjectStore(settings.s3)
    out = settings.stack.home / "reports"
    paths = {}
    with IdentityReads(settings.clickhouse, analyst) as reads:
        for profile in profiles:
            authorize(analyst.identity, Action.REPORT, profile.tenant_id)
            path = write_report(store, out, profile)
            if path is None:
                continue
            reads.record(Action.REPORT, profile.tenant_id, interview_id=profile.interview_id, subject=path.name)
            paths[profile.interview_id] = path
    return paths


def _print_profiles(tracker: Tracker, reports: dict[str, Path], as_analyst: str) -> None:
    table = Table("interview", "job", "overall", "label*", "strongest", "weakest", "data quality", title="Profiles")
    for interview in tracker.interviews:
        profile = tracker.profiles.get(interview)
        if profile is None:
            reasons = tracker.reasons(interview)
            table.add_row(interview, "", "", "[red]no profile", "; ".join(reasons)[:80], "", "")
            continue
        ranked = sorted(profile.dimensions, key=lambda d: -d.score)
        colour = {"recommend": "green", "reject": "red"}.get(profile.label.value, "yellow")
        table.add_row(
            interview,
            profile.context.job.title,
            "" if profile.overall is None else fmt.overall(profile.overall),
            f"[{colour}]{profile.label.value}[/]",
            f"{ranked[0].dimension} {ranked[0].score:.0f}" if ranked else "",
            f"{ranked[-1].dimension} {ranked[-1].score:.0f}" if ranked else "",
            ", ".join(map(str, profile.data_quality)) or "ok",
        )
    console.print(table)
    console.print("* Labels are suggestions: a person confirms every one.")
    for interview, path in reports.items():
        console.print(f"report of {interview}: {path}", overflow="ignore", crop=False, soft_wrap=True)
    console.print(
        f"As the tenant's analyst, `{as_analyst} sightline status` shows where each interview is, and "
        "`sightline report ID` writes a report again (each read goes to `sightline access-log`).",
        soft_wrap=True,
    )


def main() -> int:
    settings = get_settings()
    status = stack_status(settings)
    table = Table("component", "state", "endpoint", title="Local stack")
    for component in status.components:
        table.add_row(component.name, component.state, component.endpoint or "")
    console.print(table)
    if not status.healthy:
        console.print("[red]The local stack is not healthy; run `make up` and see .local/logs/.")
        return 1
    events = _sample_events(settings)
    tenant = events[0].tenant_id
    identities = demo_identities(settings, tenant)
    settings = settings.model_copy(update={"identity": settings.identity.model_copy(update={
        "tokens_file": identities.tokens_file, "tokens_json": None, "token": None, "token_file": None})})  # fmt: skip
    console.print(f"acting as identities of tenant {tenant}: {identities.tokens_file}")
    settings = sealed_at_rest(settings)
    console.print(f"media and per-frame data are sealed at rest with per-interview keys ({settings.s3.kek_ref})")
    tracker = Tracker([e.interview_id for e in events])
    # The sink's query endpoint admits the demo's identities.
    procs = start_stages(
        settings,
        list(DEPLOYED_STAGES),
        env={
            "SIGHTLINE_IDENTITY__TOKENS_FILE": str(identities.tokens_file),
            "SIGHTLINE_S3__KEK_REF": settings.s3.kek_ref or "",
        },
    )
    console.print(f"started {', '.join(procs)} (logs: {settings.stack.home / 'logs'})")
    try:
        since_ms = int(time.time() * 1000)
        asyncio.run(_publish(settings, [*events, *self_identification(events)]))
        console.print(f"published {len(events)} interviews to {topic_for(InterviewCompleted)}")
        console.print(f"and the candidates' self-identification to {topic_for(CandidateDemographics)}")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            tasks = {
                (i, stage): progress.add_task(f"{i} {stage}", total=1)
                for i in tracker.interviews
                for stage in DEPLOYED_STAGES
            }
            asyncio.run(_follow(settings, tracker, progress, tasks, since_ms))
        dead = [name for name, p in procs.items() if p.poll() is not None]
        if dead:
            console.print(f"[red]stage process(es) exited early: {', '.join(dead)}; see .local/logs/")
        stop_stages(procs, keep_sink=True)
        analyst = _caller(settings, identities, f"{tenant}-analyst")
        reports = _write_reports(settings, tracker.profiles.values(), analyst)
        _print_profiles(tracker, reports, identities.shell(f"{tenant}-analyst"))
        reviewed = _review(_as(settings, identities, f"{tenant}-{CONSOLE}"), events, tracker)
    finally:
        stop_stages(procs)
    console.print(f"The bias audit of these interviews: {audit_command(events, identities)}", soft_wrap=True)
    return 0 if len(tracker.profiles) == len(tracker.interviews) and reviewed else 1


def sealed_at_rest(settings: Settings) -> Settings:
    """``settings`` with envelope encryption on: the configured key-encryption key, or a local key file (the local
    stack's stand-in for a KMS key) under the stack's home. The key bucket is created before any stage seals."""
    if not settings.s3.kek_ref:
        kek = create_kek_file(settings.stack.home / "keys" / "kek")
        settings = settings.model_copy(update={"s3": settings.s3.model_copy(update={"kek_ref": f"file:{kek}"})})
    ObjectStore(settings.s3).ensure_buckets()
    return settings


def _as(settings: Settings, identities: LocalIdentities, name: str) -> Settings:
    """``settings`` acting as the local identity ``name``."""
    update = {"tokens_file": identities.tokens_file, "token_file": identities.token_files[name], "token": None}
    return settings.model_copy(update={"identity": settings.identity.model_copy(update=update)})


def _caller(settings: Settings, identities: LocalIdentities, name: str) -> Caller:
    identity, token = resolve_identity(_as(settings, identities, name).identity)
    return Caller(identity, token, f"make demo pid {os.getpid()}")


def _review(settings: Settings, events: list[InterviewCompleted], tracker: Tracker) -> bool:
    """A reviewer confirms the first demo interview's label in the review console, while the sink runs."""
    first = events[0]
    if first.interview_id not in tracker.profiles:
        console.print(f"[red]no profile of {first.interview_id}: nothing to review")
        return False
    return review_one_profile(settings, first.tenant_id, first.interview_id)


if __name__ == "__main__":
    sys.exit(main())
