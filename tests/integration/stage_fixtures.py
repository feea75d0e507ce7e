"""A small stage for exercising the worker loop: interview-completed in, media-ingested out.

Its behaviour is steered by the interview id of each input, so one topic can hold normal, slow,
flaky and rejected messages side by side:

* ``...-slow``: the handler takes ``SLOW_S`` seconds (and touches ``MARKER_DIR/<id>.started`` first);
* ``...-flaky<N>``: the first N attempts raise `Retryable`;
* ``...-reject``: raises `Rejected("no_consent", ...)`;
* ``...-crash``: always raises `RuntimeError`.

It is also runnable in its own process (``sightline worker tests.integration.stage_fixtures:make``)
with the settings taken from the environment, for crash and signal tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from services.common.contracts import (
    EventBase,
    InterviewCompleted,
    MediaIngested,
    StageName,
    deterministic_event_id,
    topic_for,
)
from services.common.handler import MessageMeta, Rejected, Retryable
from services.common.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1"


def example(name: str) -> dict[str, object]:
    """The example ``<name>.json``, or the first variant of it (``<name>.<variant>.json``) when there is none."""
    exact = EXAMPLES / f"{name}.json"
    path = exact if exact.exists() else sorted(EXAMPLES.glob(f"{name}.*.json"))[0]
    data: dict[str, object] = json.loads(path.read_text())
    return data


class EchoStage:
    stage = StageName.INGEST
    input_topics: Sequence[str] = (topic_for(InterviewCompleted),)

    def __init__(self, slow_s: float = 0.0, marker_dir: Path | None = None) -> None:
        self.slow_s = slow_s
        self.marker_dir = marker_dir
        self.attempts: Counter[str] = Counter()
        self.concurrent = 0
        self.max_concurrent = 0
        self.handled: list[str] = []
        self._template = MediaIngested.model_validate(example("media-ingested"))

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        iid = event.interview_id
        self.attempts[iid] += 1
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if iid.endswith("-slow"):
                if self.marker_dir is not None:
                    (self.marker_dir / f"{iid}.started").touch()
                await asyncio.sleep(self.slow_s)
            if iid.endswith("-reject"):
                raise Rejected("no_consent", "consent does not cover video analysis")
            if iid.endswith("-crash"):
                raise RuntimeError("handler bug")
            flaky = re.search(r"-flaky(\d+)$", iid)
            if flaky and self.attempts[iid] <= int(flaky.group(1)):
                raise Retryable(f"store unavailable (attempt {self.attempts[iid]})")
        finally:
            self.concurrent -= 1
        self.handled.append(iid)
        out = self._template.model_copy(
            update={
                "event_id": deterministic_event_id("echo", event.event_id.hex),
                "tenant_id": event.tenant_id,
                "interview_id": iid,
            }
        )
        return [out]


def make(settings: Settings) -> EchoStage:
    """Factory for `sightline worker`: behaviour from ECHO_SLOW_S and ECHO_MARKER_DIR."""
    marker = os.environ.get("ECHO_MARKER_DIR")
    return EchoStage(float(os.environ.get("ECHO_SLOW_S", "0")), Path(marker) if marker else None)
