"""The checked history of a campaign: what the topics and the database hold once the pipeline has stopped.

* every interview has exactly one current profile, built from every part it expected, or a partial profile
  whose data-quality flags name what is missing;
* no table holds a row twice (same sorting key, same source event), read without FINAL;
* every record a stage consumed on the pipeline's topics ended in a completed or failed status of that stage,
  or in one of its dead letters;
* how long each fault took to heal: from the fault until the stage it hit finished a unit of work that it
  started after the fault was over.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from datetime import datetime
from typing import Any

from services.common.clickhouse import DirectWarehouse
from services.common.contracts import TOPICS, StageStatus, decode, decode_dead_letter, topic_for
from services.common.settings import Settings
from services.sink.callback import STATUS_UNIT as CALLBACK_UNIT
from tests.chaos.faults import Injected
from tests.chaos.fleet import SINK, STAGES
from tests.integration.kafka_helpers import Record, read_all

STATUS = topic_for(StageStatus)
#: Topics whose records the stages account for one by one (stage-status is consumed quietly: no status about
#: a status; rescore requests and HR-system inputs are not part of the campaign's load).
ACCOUNTED = (
    "sightline.interview-completed.v1",
    "sightline.media-ingested.v1",
    "sightline.frame-chunk-ready.v1",
    "sightline.audio-ready.v1",
    "sightline.vision-features.v1",
    "sightline.speech-results.v1",
    "sightline.profile-ready.v1",
)
PARTIAL_FLAGS = ("missing_", "media_unprocessable")


async def read_topics(settings: Settings) -> dict[str, list[Record]]:
    names = [*ACCOUNTED, STATUS, *(t for t in TOPICS if TOPICS[t].is_dead_letter)]
    results = await asyncio.gather(*(read_all(settings.kafka, name, quiet_s=3.0, timeout_s=120) for name in names))
    return dict(zip(names, results, strict=True))


def account_offsets(topics: dict[str, list[Record]]) -> dict[str, Any]:
    """Every consumed record of the accounted topics: processed, dead-lettered or refused, per stage."""
    done: dict[tuple[str, str], str] = {}
    for record in topics[STATUS]:
        status = decode(STATUS, record.value)
        source = record.headers.get("source", b"").decode()
        if not isinstance(status, StageStatus) or status.state.value not in ("completed", "failed"):
            continue
        if status.stage.value == SINK and status.unit == CALLBACK_UNIT:
            continue  # the HR callback sender reads profiles in a group of its own
        outcome = "processed" if status.state.value == "completed" else "refused"
        done.setdefault((status.stage.value, source), outcome)
    for name, records in topics.items():
        if not TOPICS[name].is_dead_letter:
            continue
        for record in records:
            letter = decode_dead_letter(record.value)
            source = f"{letter.source.topic}/{letter.source.partition}/{letter.source.offset}"
            done[(letter.stage.value, source)] = "dead_lettered"
    outcomes: Counter[str] = Counter()
    unaccounted: list[str] = []
    for topic in ACCOUNTED:
        consumers = [c for c in TOPICS[topic].consumers if c in STAGES]
        for record in topics[topic]:
            source = f"{topic}/{record.partition}/{record.offset}"
            for stage in consumers:
                outcome = done.get((stage, source))
                outcomes[outcome or "unaccounted"] += 1
                if outcome is None:
                    unaccounted.append(f"{stage} <- {source}")
    return {
        "records": sum(len(topics[t]) for t in ACCOUNTED),
        "outcomes": dict(outcomes),
        "unaccounted": unaccounted[:50],
    }


def check_database(settings: Settings, interview_ids: set[str]) -> dict[str, Any]:
    """Profiles per interview and duplicate rows per table, read from the database the sink wrote."""
    warehouse = DirectWarehouse(settings.clickhouse)
    db = settings.clickhouse.database
    try:
        _, tables = warehouse.query_rows(
            f"SELECT name, sorting_key FROM system.tables WHERE database = '{db}' AND engine LIKE '%MergeTree'"
        )
        _, sourced = warehouse.query_rows(
            f"SELECT table FROM system.columns WHERE database = '{db}' AND name = 'event_id'"
        )
        with_event = {r[0] for r in sourced}
        duplicates = {}
        for name, key in tables:
            # The same row twice: same sorting key and, where the table says, the same source event (a newer
            # version of a row comes from another event and is not a duplicate).
            identity = f"{key}, event_id" if name in with_event and "event_id" not in key else key
            _, rows = warehouse.query_rows(f"SELECT count(), uniqExact(tuple({identity})) FROM {db}.{name}")
            duplicates[name] = int(rows[0][0]) - int(rows[0][1])
        _, rows = warehouse.query_rows(
            f"SELECT interview_id, count(), argMax(tuple(vision_chunks_received, vision_chunks_expected, "
            f"speech_segments_received, speech_segments_expected, data_quality), profile_version) "
            f"FROM {db}.latest_profiles GROUP BY interview_id"
        )
        _, interviews = warehouse.query_rows(f"SELECT DISTINCT interview_id FROM {db}.interviews")
    finally:
        warehouse.close()
    current = {r[0]: (int(r[1]), r[2]) for r in rows}
    complete, partial, silent = [], [], []
    for interview in sorted(interview_ids):
        if interview not in current or current[interview][0] != 1:
            continue
        vision_got, vision_want, speech_got, speech_want, flags = current[interview][1]
        if vision_got == vision_want and speech_got == speech_want:
            complete.append(interview)
        elif any(flag.startswith(PARTIAL_FLAGS) for flag in flags):
            partial.append(interview)
        else:
            silent.append(interview)
    return {
        "duplicates": duplicates,
        "interviews_stored": len(interview_ids & {r[0] for r in interviews}),
        "complete": len(complete),
        "partial_named": partial,
        "partial_silent": silent,
        "lost": sorted(i for i in interview_ids if i not in current),
        "not_one_current": sorted(i for i in interview_ids if i in current and current[i][0] != 1),
    }


def heal_times(faults: list[Injected], statuses: list[Record]) -> None:
    """Set each fault's heal_s (see the module docstring); None when its stage had no more work after it."""
    started: dict[tuple[str, str], datetime] = {}
    finished: list[tuple[str, datetime, datetime]] = []
    events = [s for s in (decode(STATUS, r.value) for r in statuses) if isinstance(s, StageStatus)]
    for status in sorted(events, key=lambda s: s.occurred_at):
        key = (status.stage.value, f"{status.caused_by}:{status.unit}")
        if status.state.value == "started":
            started[key] = status.occurred_at
        elif status.state.value == "completed" and key in started:
            finished.append((status.stage.value, started.pop(key), status.occurred_at))
    for fault in faults:
        stage = fault.stage or SINK  # the broker's and the object store's faults show at the end of the pipeline
        after = [
            done.timestamp() - fault.injected_at
            for name, began, done in finished
            if name == stage and began.timestamp() >= fault.ended_at
        ]
        fault.heal_s = round(min(after), 1) if after else None


def recovery(faults: list[Injected]) -> dict[str, Any]:
    healed = sorted(f.heal_s for f in faults if f.heal_s is not None)
    if not healed:
        return {"healed": 0, "p50_s": None, "p95_s": None, "max_s": None}
    p95 = healed[min(len(healed) - 1, round(0.95 * (len(healed) - 1)))]
    return {"healed": len(healed), "p50_s": round(statistics.median(healed), 1), "p95_s": p95, "max_s": healed[-1]}
