"""`make demo`: the local stack, the contracts and whatever stages exist, on sample interviews.

Runs after `make up` (stack started, topics created, migrations applied). Publishes the example
interview-completed events, then shows, per interview and stage, what the stage-status topic says.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table

from services.common.contracts import (
    InterviewCompleted,
    StageStatus,
    decode,
    encode,
    message_headers,
    message_key,
    topic_for,
)
from services.common.kafka import connection_kwargs, create_producer, physical_topic
from services.common.settings import PROJECT_ROOT, Settings, get_settings
from services.common.stack import stack_status

EXAMPLES = PROJECT_ROOT / "schemas" / "examples" / "v1"
#: Stage processes shipped in this version (each issue adds its own).
DEPLOYED_STAGES: tuple[str, ...] = ()

console = Console()


async def _publish(settings: Settings, paths: list[Path]) -> list[InterviewCompleted]:
    events = [InterviewCompleted.model_validate_json(p.read_bytes()) for p in paths]
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
    return events


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
    samples = sorted(EXAMPLES.glob("interview-completed.*.json"))
    events = asyncio.run(_publish(settings, samples))
    for event in events:
        console.print(
            f"published interview [bold]{event.interview_id}[/] ({event.locale}, {event.jurisdiction}, "
            f"job {event.job.job_id}, {len(event.questions)} questions) to {topic_for(event)}"
        )
    seen = asyncio.run(_statuses(settings, wait_s=3.0 if DEPLOYED_STAGES else 0.5))
    progress = Table("interview", "stage", "state", "detail", title="Pipeline progress")
    ids = {e.interview_id for e in events}
    for s in seen:
        if s.interview_id in ids:
            progress.add_row(s.interview_id, s.stage.value, s.state.value, s.reason.message if s.reason else "")
    console.print(progress)
    if not DEPLOYED_STAGES:
        console.print(
            "No stage processes ship in this version yet: the events wait on "
            f"{topic_for(InterviewCompleted)} for the ingest stage. The stack, topics, contracts and "
            'ClickHouse schema are ready (`sightline query "SELECT * FROM sightline.interview_progress"`).'
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
