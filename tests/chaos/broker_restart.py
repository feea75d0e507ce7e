"""Does the local broker keep every acknowledged record across a restart on its persistent storage?

A private stack with the broker on its S3 storage (`broker_storage="s3"`), one topic of one partition:
`writers` producers (one connection each) append `records` records with acks=all; the broker is stopped
(SIGTERM, or SIGKILL as a crash would) and started again; `after` more records are appended, and the
partition is read back from the beginning. Every acknowledged record must be there, once.

    python -m tests.chaos.broker_restart --writers 1 --stop term
    python -m tests.chaos.broker_restart --writers 4 --stop kill --in-flight --read-first

Prints one JSON line: acknowledged, readable, lost, duplicated, the offsets read back. The findings are in
docs/operations.md (Fault campaign, limits of the local campaign).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaProducer

from services.common.kafka import connection_kwargs, ensure_topics
from services.common.settings import KafkaSettings, Settings
from services.common.stack import local_stack_settings, start_stack, stop_component, stop_stack
from tests.integration.kafka_helpers import read_all

TOPIC = "restart-probe"


@dataclass(frozen=True)
class Probe:
    writers: int = 1
    records: int = 1000
    after: int = 100
    stop: Literal["term", "kill", "none"] = "term"
    #: Writers keep producing while the broker is stopped (their unacknowledged sends do not count).
    in_flight: bool = False
    #: Read the partition once after the restart before producing again.
    read_first: bool = False
    linger_ms: int = 5


async def _write(kafka: KafkaSettings, prefix: str, count: int, linger_ms: int, acked: list[str]) -> None:
    """`count` records, each awaited only as a batch (as the stages produce); acknowledged ones in `acked`."""
    producer = AIOKafkaProducer(
        **connection_kwargs(kafka, f"probe-{prefix}"), acks="all", enable_idempotence=False, linger_ms=linger_ms
    )
    await producer.start()
    try:
        pending = [(f"{prefix}-{i}", await producer.send(TOPIC, f"{prefix}-{i}".encode())) for i in range(count)]
        for name, future in pending:
            try:
                await future
                acked.append(name)
            except Exception:  # not acknowledged: not owed
                pass
    finally:
        await producer.stop()


async def _phase(kafka: KafkaSettings, tag: str, writers: int, records: int, linger_ms: int) -> list[str]:
    acked: list[str] = []
    per = records // writers
    await asyncio.gather(*(_write(kafka, f"{tag}{w}", per, linger_ms, acked) for w in range(writers)))
    return acked


def _restart(settings: Settings, probe: Probe) -> float:
    if probe.stop == "none":
        return 0.0
    stop_component(settings, "kafka", kill=probe.stop == "kill")
    started = time.monotonic()
    start_stack(settings)
    return round(time.monotonic() - started, 1)


def run(probe: Probe) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="sightline-broker-restart-"))
    settings = local_stack_settings(home, broker_storage="s3")
    start_stack(settings)
    kafka = settings.kafka
    try:
        asyncio.run(ensure_topics(kafka, [(TOPIC, 1)]))
        acked: list[str] = []
        if probe.in_flight:
            # The broker goes away while the writers are busy: some sends are acknowledged, some fail.
            async def busy() -> None:
                task = asyncio.create_task(_phase(kafka, "a", probe.writers, probe.records, probe.linger_ms))
                await asyncio.sleep(0.5)
                await asyncio.to_thread(_restart, settings, probe)
                acked.extend(await task)

            asyncio.run(busy())
        else:
            acked += asyncio.run(_phase(kafka, "a", probe.writers, probe.records, probe.linger_ms))
            _restart(settings, probe)
        before_restart = len(acked)
        if probe.read_first:
            asyncio.run(read_all(kafka, TOPIC, quiet_s=1.0))
        acked += asyncio.run(_phase(kafka, "b", 1, probe.after, probe.linger_ms))
        records = asyncio.run(read_all(kafka, TOPIC, quiet_s=2.0, timeout_s=120))
    finally:
        stop_stack(settings)
        shutil.rmtree(home, ignore_errors=True)
    seen = Counter(r.value.decode() for r in records)
    lost = [name for name in acked if name not in seen]
    return {
        "probe": probe.__dict__,
        "acknowledged": len(acked),
        "acknowledged_before_restart": before_restart,
        "readable": len(records),
        "lost": len(lost),
        "lost_before_restart": sum(1 for name in lost if name.startswith("a")),
        "duplicated": sum(n - 1 for n in seen.values() if n > 1),
        "offsets": [records[0].offset, records[-1].offset] if records else [],
        "lost_sample": lost[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--after", type=int, default=100)
    parser.add_argument("--stop", choices=("term", "kill", "none"), default="term")
    parser.add_argument("--in-flight", action="store_true")
    parser.add_argument("--read-first", action="store_true")
    parser.add_argument("--linger-ms", type=int, default=5)
    args = parser.parse_args()
    probe = Probe(args.writers, args.records, args.after, args.stop, args.in_flight, args.read_first, args.linger_ms)
    print(json.dumps(run(probe)))


if __name__ == "__main__":
    main()
