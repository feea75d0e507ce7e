"""One batch: plan every recording, skip the finished ones, publish the rest with bounded concurrency while
following their progress, and keep each stored profile's summary and report."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.access import AccessDenied, Action, authorize
from services.analyse.events import Options, Planned, plan
from services.analyse.inputs import InputError, Recording
from services.analyse.pipeline import DEPLOYED_STAGES, Pipeline
from services.analyse.progress import StatusFeed, Tracker
from services.analyse.state import StateFile, Summary, summarise
from services.common.chdb_owner import OwnerUnavailable
from services.common.competency import CompetencyModelLibrary
from services.common.contracts import InterviewCompleted, ProfileReady, encode, message_headers, message_key, topic_for
from services.common.kafka import create_producer, physical_topic
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.identity.reads import IdentityReads
from services.identity.tokens import Caller


@dataclass
class Batch:
    """The recordings of one command, in order: to publish, already finished, or refused before publishing."""

    planned: list[Planned] = field(default_factory=list)
    results: dict[str, Summary] = field(default_factory=dict)  # by path, in input order once complete
    order: list[str] = field(default_factory=list)

    @property
    def summaries(self) -> list[Summary]:
        return [self.results[path] for path in self.order if path in self.results]

    @property
    def ok(self) -> bool:
        return len(self.results) == len(self.order) and all(s.ok for s in self.results.values())


def prepare(
    recordings: Iterable[Recording],
    options: Options,
    library: CompetencyModelLibrary,
    finished: dict[str, Summary],
    now: datetime,
    say: Callable[[str], None],
) -> Batch:
    """Plan each recording; one that cannot be analysed is a failed row with its reason, not the end of the batch."""
    batch = Batch()
    planned_paths: dict[str, str] = {}
    for recording in recordings:
        path = str(recording.path)
        try:
            planned = plan(recording, options, library, now)
        except InputError as exc:
            batch.order.append(path)
            batch.results[path] = Summary(event_id="", interview_id="", path=path, failure=str(exc))
            continue
        if planned.event_id in planned_paths:  # a copy of a recording already in the batch: one interview
            say(f"{path}: the same recording as {planned_paths[planned.event_id]}, analysed once")
            continue
        planned_paths[planned.event_id] = path
        batch.order.append(path)
        done = finished.get(planned.event_id)
        if done is not None:
            batch.results[path] = done
            say(f"already analysed: {path} ({done.interview_id})")
            continue
        if not planned.windows_known:
            say(f"{path}: question windows not given; they are found in the recording")
        batch.planned.append(planned)
    return batch


def export_report(store: ObjectStore, out_dir: Path, profile: ProfileReady, reads: IdentityReads) -> Path | None:
    """`write_report` as the reads' caller: authorised for the profile's tenant, and recorded in the access log
    before the report leaves the store."""
    authorize(reads.caller.identity, Action.REPORT, profile.tenant_id)
    if not hasattr(profile.report, "bucket"):
        return None
    reads.record(Action.REPORT, profile.tenant_id, interview_id=profile.interview_id, subject="analyse export")
    return write_report(store, out_dir, profile)


def write_report(store: ObjectStore, out_dir: Path, profile: ProfileReady) -> Path | None:
    """The profile's stored report, copied to ``out_dir/<interview>.html`` (or .json without HTML)."""
    ref = profile.report
    if not hasattr(ref, "bucket"):
        return None
    suffix = ".html" if ref.content_type.startswith("text/html") else ".json"  # type: ignore[union-attr]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{profile.interview_id}{suffix}"
    path.write_bytes(store.get_bytes(ref.bucket, ref.key))  # type: ignore[union-attr]
    return path


def _bar_text(tracker: Tracker, planned: Planned) -> tuple[str, int, int]:
    """``name  ingest 1/1  frames 1/1  vision 3/8 ...`` and the units done and expected over all stages."""
    interview = planned.event.interview_id
    parts, done_all, total_all = [], 0, 0
    for stage in DEPLOYED_STAGES:
        done, total, failures = tracker.counts(interview, stage)
        done_all, total_all = done_all + done, total_all + total
        colour = "red" if failures else ("green" if done >= total else "yellow")
        parts.append(f"[{colour}]{stage} {done}/{total}[/]")
    return f"{planned.recording.path.name}  " + "  ".join(parts), done_all, total_all


class Runner:
    """Publishes and follows one batch on a running pipeline."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        state: StateFile,
        console: Console,
        *,
        concurrency: int,
        timeout_s: float,
        caller: Caller,
    ) -> None:
        self.settings = settings
        self.caller = caller
        self.pipeline = pipeline
        self.state = state
        self.console = console
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.store = ObjectStore(settings.s3)
        self.reports = settings.stack.home / "reports"

    def run(self, batch: Batch) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console) as progress:
            asyncio.run(self._run(batch, progress))

    async def _run(self, batch: Batch, progress: Progress) -> None:
        tracker = Tracker([])
        pending = deque(batch.planned)
        in_flight: dict[str, tuple[Planned, float, TaskID]] = {}
        producer = create_producer(self.settings.kafka, "analyse")
        topic = physical_topic(self.settings.kafka, topic_for(InterviewCompleted))
        await producer.start()
        try:
            async with StatusFeed(self.settings, tracker) as feed:
                while pending or in_flight:
                    while pending and len(in_flight) < self.concurrency:
                        planned = pending.popleft()
                        event = planned.event
                        tracker.interviews.append(event.interview_id)
                        await producer.send_and_wait(
                            topic, encode(event), key=message_key(event), headers=message_headers(event)
                        )
                        task = progress.add_task(planned.recording.path.name, total=len(DEPLOYED_STAGES))
                        in_flight[event.interview_id] = (planned, time.monotonic(), task)
                    await feed.poll()
                    self._check_stages()
                    for interview, (planned, since, task) in list(in_flight.items()):
                        text, done, total = _bar_text(tracker, planned)
                        progress.update(task, description=text, completed=done, total=total)
                        overdue = time.monotonic() - since > self.timeout_s
                        if tracker.settled(interview) or overdue:
                            progress.remove_task(task)
                            del in_flight[interview]
                            self._settle(batch, tracker, planned, progress.console, overdue=overdue)
        finally:
            await producer.stop()

    def _check_stages(self) -> None:
        dead = self.pipeline.dead()
        if dead:
            raise StageExited(f"stage process(es) exited: {', '.join(dead)}; see {self.pipeline.logs}")

    def _settle(self, batch: Batch, tracker: Tracker, planned: Planned, console: Console, *, overdue: bool) -> None:
        interview = planned.event.interview_id
        path = str(planned.recording.path)
        profile = tracker.profiles.get(interview)
        if profile is not None and tracker.settled(interview):
            report = self._export(profile, console)
            summary = summarise(profile, path, report)
            self.state.add([summary])
            console.print(f"[green]done[/] {path}: {summary.overall} {summary.label}  report: {report}", soft_wrap=True)
        else:
            reasons = tracker.reasons(interview)
            if not reasons:
                reasons = [f"no stored profile within {self.timeout_s:.0f} s"] if overdue else ["no profile"]
            summary = Summary(str(planned.event.event_id), interview, path, failure="; ".join(reasons))
            console.print(f"[red]failed[/] {path}: {summary.failure}", soft_wrap=True)
        batch.results[path] = summary

    def _export(self, profile: ProfileReady, console: Console) -> Path | None:
        """The report exported as the command's identity; None, said why, when its read cannot be recorded."""
        try:
            with IdentityReads(self.settings.clickhouse, self.caller) as reads:
                return export_report(self.store, self.reports, profile, reads)
        except (AccessDenied, OwnerUnavailable, RuntimeError) as exc:
            console.print(
                f"[yellow]the report of {profile.interview_id} was not exported: its read could not be recorded in "
                f"the access log ({exc})",
                soft_wrap=True,
            )
            return None


class StageExited(RuntimeError):
    """A stage process this command started has stopped."""


def print_summaries(console: Console, summaries: list[Summary]) -> None:
    table = Table("recording", "interview", "job", "overall", "label*", "strongest", "weakest", "data quality",
                  title="Profiles")  # fmt: skip
    for s in summaries:
        name = Path(s.path).name
        if not s.ok:
            table.add_row(name, s.interview_id, "", "", "[red]failed", s.failure, "", "")
            continue
        colour = {"recommend": "green", "reject": "red"}.get(s.label, "yellow")
        table.add_row(name, s.interview_id, s.job, s.overall, f"[{colour}]{s.label}[/]", s.strongest, s.weakest,
                      ", ".join(s.data_quality) or "ok")  # fmt: skip
    console.print(table)
    console.print("* Labels are suggestions: a person confirms every one.")
    for s in summaries:
        if s.ok:
            console.print(f"report of {s.path}: {s.report}", overflow="ignore", crop=False, soft_wrap=True)
        else:
            console.print(f"[red]{s.path} failed:[/] {s.failure}", overflow="ignore", crop=False, soft_wrap=True)


__all__ = ["Batch", "Runner", "StageExited", "export_report", "prepare", "print_summaries", "write_report"]
