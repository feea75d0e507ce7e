"""Resuming a batch: one line per finished interview, appended as soon as its profile is stored.

Keyed by event id (derived from the file's checksum and options), so a re-run of the same batch skips
what is done and republishes nothing of it; an interview that failed or was cut short is not recorded
and runs again. Each line also keeps what the closing table shows, so a resumed batch still lists every
profile.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from services.common.contracts import ProfileReady
from services.report import fmt


@dataclass(frozen=True)
class Summary:
    """One row of the closing table."""

    event_id: str
    interview_id: str
    path: str
    job: str = ""
    overall: str = ""
    label: str = ""
    strongest: str = ""
    weakest: str = ""
    data_quality: list[str] = field(default_factory=list)
    report: str = ""
    failure: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure


def summarise(profile: ProfileReady, path: str, report: Path | None) -> Summary:
    ranked = sorted(profile.dimensions, key=lambda d: -d.score)
    return Summary(
        event_id=str(profile.context.source_event_id),
        interview_id=profile.interview_id,
        path=path,
        job=profile.context.job.title,
        overall="" if profile.overall is None else fmt.overall(profile.overall),
        label=profile.label.value,
        strongest=f"{ranked[0].dimension} {ranked[0].score:.0f}" if ranked else "",
        weakest=f"{ranked[-1].dimension} {ranked[-1].score:.0f}" if ranked else "",
        data_quality=[str(flag) for flag in profile.data_quality],
        report=str(report) if report is not None else "",
    )


class StateFile:
    """The finished interviews of every batch run with this stack home."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Summary]:
        if not self.path.exists():
            return {}
        finished: dict[str, Summary] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = Summary(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a line cut short by a crash: that interview simply runs again
            finished[row.event_id] = row
        return finished

    def add(self, summaries: Iterable[Summary]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for summary in summaries:
                fh.write(json.dumps(asdict(summary), ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


__all__ = ["StateFile", "Summary", "summarise"]
