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
import subprocess
import sys
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


def spawn_echo_worker(
    engine: str, settings: Settings, group: str, env_extra: dict[str, str], log: Path | None = None
) -> subprocess.Popen[bytes]:
    """This stage in a `sightline worker` process of its own on ``engine``, its output to ``log`` if given."""
    env = {
        **os.environ,
        "SIGHTLINE_WORKER__ENGINE": engine,
        "SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SIGHTLINE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SIGHTLINE_WORKER__COMMIT_INTERVAL_S": "0.2",
        "SIGHTLINE_WORKER__DRAIN_TIMEOUT_S": "20",
        "SIGHTLINE_OBSERVABILITY__LOG_FORMAT": "text",
        **env_extra,
    }
    out = log.open("ab") if log is not None else None
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker", "--group", group, "tests.integration.stage_fixtures:make"],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
        )
    finally:
        if out is not None:
            out.close()  # the child holds its own descriptor
