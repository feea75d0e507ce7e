"""`make demo`: the local stack and the stages that exist, on a generated sample interview.

Runs after `make up` (stack started, topics created, migrations applied). Generates a sample
interview, starts every deployed stage as its own process, publishes the interview-completed event
an HR system would send, and shows per stage what the stage-status topic says. Re-running is
idempotent: the same sample gives the same event id, so stages re-emit the same outputs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table

from services.common.contracts import (
    AudioReady,
    FrameChunkReady,
    InterviewCompleted,
    StageStatus,
    decode,
    encode,
    message_headers,
    message_key,
    topic_for,
)
from services.common.kafka import connection_kwargs, create_producer, physical_topic
from services.common.settings import Settings, get_settings
from services.common.stack import stack_status

#: Stage processes shipped in this version (each issue adds its own): name -> worker factory.
DEPLOYED_STAGES: dict[str, str] = {
    "ingest": "services.ingest.stage:make",
    "frames": "services.frames.stage:make",
}

console = Console()


async def _publish(settings: Settings, events: list[InterviewCompleted]) -> None:
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


async def _statuses(settings: Settings, wait_s: float) -> list[StageStatus]:
    name = physical_topic(settings.kafka, topic_for(StageStatus))
    consumer = AIOKafkaConsumer(**connection_kwargs(settings.kafka, "demo-status"), enable_auto_commit=False)
    await consumer.start()
    found: list[StageStatus] = []
    try:
        partitions = consumer.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in partitions]
        if not tps:
            return found
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        batch = await consumer.getmany(timeout_ms=int(wait_s * 1000))
        for records in batch.values():
            for record in records:
                event = decode(topic_for(StageStatus), record.value or b"")
                if isinstance(event, StageStatus):
                    found.append(event)
    finally:
        await consumer.stop()
    return found


def _start_stages(settings: Settings) -> list[subprocess.Popen[bytes]]:
    logs = settings.stack.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for name, factory in DEPLOYED_STAGES.items():
        log = (logs / f"{name}.log").open("ab")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", factory],
                stdout=log,
                stderr=log,
                env={**os.environ, "SIGHTLINE_OBSERVABILITY__HTTP_PORT": "0"},
            )
        )
        console.print(f"started stage [bold]{name}[/] (log: {logs / f'{name}.log'})")
    return procs


def _stop_stages(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()


def _sample_event(settings: Settings) -> InterviewCompleted:
    from services.samples.event import interview_event
    from services.samples.generate import generate_interview
    from services.samples.spec import SampleSpec

    with console.status("generating a sample interview (30 s, English, with ground truth)"):
        result = generate_interview(SampleSpec(duration=30, fps=10, seed=7), settings.stack.home / "samples")
    console.print(f"sample: {result.media_path} (truth: {result.truth_path.name})")
    return interview_event(result, interview_id="demo-en-strong")


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
    event = _sample_event(settings)
    procs = _start_stages(settings)
    try:
        asyncio.run(_publish(settings, [event]))
        console.print(f"published interview [bold]{event.interview_id}[/] to {topic_for(event)}")
        last = {s: "" for s in DEPLOYED_STAGES}
        deadline = time.monotonic() + 180
        with console.status("waiting for the stages"):
            while time.monotonic() < deadline:
                for s in asyncio.run(_statuses(settings, wait_s=1.0)):
                    if s.interview_id == event.interview_id and s.stage.value in last:
                        outputs = ", ".join(f"{n} x {t.split('.')[1]}" for t, n in s.emitted.items())
                        detail = f": {s.reason.message}" if s.reason else (f" ({outputs})" if outputs else "")
                        last[s.stage.value] = s.state.value + detail
                if all(v.startswith(("completed", "failed")) for v in last.values()):
                    break
                if any(p.poll() is not None for p in procs):
                    console.print("[red]a stage process exited; see its log in .local/logs/")
                    break
    finally:
        _stop_stages(procs)
    progress = Table("interview", "stage", "state", title="Pipeline progress")
    for stage, state in last.items():
        progress.add_row(event.interview_id, stage, state or "no status yet")
    console.print(progress)
    console.print(
        "Vision, speech, fusion and sink do not ship yet; frame chunks and audio segments wait on "
        f"{topic_for(FrameChunkReady)} and {topic_for(AudioReady)}."
    )
    return 0 if all(v.startswith("completed") for v in last.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
