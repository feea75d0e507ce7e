"""One fault campaign: a private local stack, `replicas` processes of every stage, short generated interviews
published at once, faults from the seeded schedule while they are processed, then the checked history
(tests.chaos.history).

The result is a JSON-able dict; `passed` is True only when every check held.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.analyse.pipeline import create_registered_topics
from services.common.contracts import InterviewCompleted, ProfileReady, StageStatus, encode, message_key, topic_for
from services.common.settings import PROJECT_ROOT, Settings, settings_env
from services.common.stack import local_stack_settings, start_stack, stop_stack
from services.samples import SampleSpec, generate_interview
from services.samples.event import interview_event
from services.samples.generate import SampleResult
from services.samples.ground_truth import GroundTruth
from services.sink.callback import STATUS_UNIT as CALLBACK_UNIT
from tests.chaos import history
from tests.chaos.faults import Fault, Injected, Injector, Kind, schedule
from tests.chaos.fleet import SINGLE_REPLICA, STAGES, Fleet
from tests.integration.kafka_helpers import distinct_events, publish, read_all

SAMPLES = PROJECT_ROOT / ".local" / "cache" / "chaos-samples"
#: Fusion writes a partial profile once an interview's parts stop arriving for this long (the default, 15
#: minutes, would outlast the campaign).
FUSION_DEADLINE_S = 300.0
#: A campaign whose profiles are not all whole ends once no stage has reported anything for this long: work
#: still queued somewhere (a slow replica, a re-delivery) would report within it.
QUIET_S = 45.0


@dataclass(frozen=True)
class Config:
    seed: int
    interviews: int = 24
    replicas: int = 2
    faults: int = 20
    #: Faults fall between these many seconds after publishing.
    fault_window_s: tuple[float, float] = (10.0, 200.0)
    timeout_s: float = 1800.0
    tag: str = "chaos"
    #: The kinds of fault drawn (a shared stack cannot have its broker or object store taken away).
    kinds: tuple[Kind, ...] = tuple(Kind)
    #: Replicas of particular stages, instead of `replicas` (the sink always runs one).
    replicas_of: tuple[tuple[str, int], ...] = ()

    def replicas_for(self, stage: str) -> int:
        if stage in SINGLE_REPLICA:
            return 1
        return dict(self.replicas_of).get(stage, self.replicas)


def samples(count: int) -> list[SampleResult]:
    """Short interviews (5-8 s), generated once and kept under .local/cache."""
    SAMPLES.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        name = f"chaos-{i}"
        media, truth = SAMPLES / f"{name}.mp4", SAMPLES / f"{name}.truth.json"
        if media.exists() and truth.exists():
            out.append(SampleResult(media, truth, GroundTruth.model_validate_json(truth.read_text())))
            continue
        spec = SampleSpec(
            seed=700 + i,
            duration=5.0 + i % 4,
            width=320,
            height=240,
            fps=10,
            candidate="strong" if i % 2 == 0 else "weak",
            variant="smiling" if i % 3 else "neutral",
        )
        out.append(generate_interview(spec, SAMPLES, name=name))
    return out


def stage_env(settings: Settings) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    return {
        **clean,
        **settings_env(settings),
        "SIGHTLINE_OBSERVABILITY__HTTP_PORT": "0",
        "SIGHTLINE_OBSERVABILITY__LOG_FORMAT": "text",
        "SIGHTLINE_INGEST__FILE_ROOTS": json.dumps([str(SAMPLES)]),
        "SIGHTLINE_FUSION__DEADLINE_S": str(FUSION_DEADLINE_S),
        "SIGHTLINE_FUSION__SWEEP_INTERVAL_S": "5",
        "SIGHTLINE_WORKER__COMMIT_INTERVAL_S": "0.5",
        # Many processes share few cores: one thread each, as a replica with a one-core limit would run.
        "SIGHTLINE_VISION__THREADS": "1",
        "SIGHTLINE_SPEECH__WORKERS": "1",
        "SIGHTLINE_SPEECH__BEAM_SIZE": "1",
        "OMP_NUM_THREADS": "1",
    }


class Progress:
    """Follows profiles and the sink's statuses while the campaign runs: done once every interview's latest
    profile is stored and whole, or partial with its missing parts named."""

    def __init__(self, settings: Settings, wanted: set[str]) -> None:
        self.settings = settings
        self.wanted = wanted
        self.profiles: dict[str, ProfileReady] = {}
        self.stored: set[str] = set()
        self._statuses = 0
        self._changed = time.monotonic()

    async def poll(self) -> None:
        profiles = await read_all(self.settings.kafka, topic_for(ProfileReady), quiet_s=0.5, timeout_s=60)
        for event in distinct_events(profiles, topic_for(ProfileReady)):
            if isinstance(event, ProfileReady) and event.interview_id in self.wanted:
                known = self.profiles.get(event.interview_id)
                if known is None or known.profile_version < event.profile_version:
                    self.profiles[event.interview_id] = event
        statuses = await read_all(self.settings.kafka, topic_for(StageStatus), quiet_s=0.5, timeout_s=60)
        if len(statuses) != self._statuses:
            self._statuses, self._changed = len(statuses), time.monotonic()
        for event in distinct_events(statuses, topic_for(StageStatus)):
            if (
                isinstance(event, StageStatus)
                and event.stage.value == "sink"
                and event.state.value == "completed"
                and event.unit != CALLBACK_UNIT
            ):
                self.stored.add(str(event.caused_by))

    def settled(self) -> list[str]:
        """Interviews whose latest profile is stored and whole, or partial with what is missing named while the
        pipeline has gone quiet."""
        quiet = time.monotonic() - self._changed >= QUIET_S
        return [
            i
            for i, p in self.profiles.items()
            if str(p.event_id) in self.stored
            and (_whole(p) or (quiet and any(f.startswith(history.PARTIAL_FLAGS) for f in p.data_quality)))
        ]


def _whole(profile: ProfileReady) -> bool:
    c = profile.coverage
    return c.vision_chunks.received == c.vision_chunks.expected and (
        c.speech_segments.received == c.speech_segments.expected
    )


def run(config: Config, say: Any = print) -> dict[str, Any]:
    """A campaign on a private stack of its own, stopped at the end (and removed when the campaign passed)."""
    home = Path(tempfile.mkdtemp(prefix=f"sightline-{config.tag}-"))
    settings = local_stack_settings(home)
    start_stack(settings)
    result: dict[str, Any] = {}
    try:
        result = run_on(config, settings, say)
        return result
    finally:
        stop_stack(settings)
        if result.get("passed"):
            shutil.rmtree(home, ignore_errors=True)
        else:  # the logs of every replica, the broker and the gateway, and the database the sink wrote
            say(f"kept {home} for inspection")


def run_on(config: Config, settings: Settings, say: Any = print) -> dict[str, Any]:
    """A campaign on a running stack, in the topics, buckets and database of ``settings``."""
    began = time.time()
    asyncio.run(create_registered_topics(settings))
    results = samples(config.interviews)
    events = [
        interview_event(r, tenant_id="chaos", interview_id=f"{config.tag}-{config.seed}-{i}-{uuid.uuid4().hex[:4]}")
        for i, r in enumerate(results)
    ]
    logs = settings.stack.home / "logs" / "stages"
    logs.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(stage_env(settings), logs)
    for stage in STAGES:
        for _ in range(config.replicas_for(stage)):
            fleet.start(stage)
    startup_s = fleet.wait_ready(fleet.all_live(), timeout_s=600)
    say(f"{len(fleet.all_live())} replicas ready in {startup_s:.0f}s; publishing {len(events)} interviews")
    plan = schedule(config.seed, config.faults, *config.fault_window_s, kinds=config.kinds)
    injector = Injector(settings, fleet, settings.kafka.session_timeout_ms / 1000)
    progress = Progress(settings, {e.interview_id for e in events})
    published = time.time()
    asyncio.run(_publish(settings, events))
    injected: list[Injected] = []
    restarts: list[str] = []
    faulting = threading.Thread(target=_inject_all, args=(injector, plan, published, injected, say), daemon=True)
    faulting.start()
    try:
        deadline = published + config.timeout_s
        while time.time() < deadline:
            time.sleep(5)
            restarts += fleet.supervise()
            try:
                asyncio.run(progress.poll())
            except Exception as exc:  # the broker is down: look again next time
                say(f"  progress unknown: {type(exc).__name__}: {exc}")
                continue
            done = len(progress.settled())
            say(f"{time.time() - published:5.0f}s  faults {len(injected)}/{len(plan)}  settled {done}/{len(events)}")
            if done == len(events) and not faulting.is_alive():
                break
        finished = time.time()
        faulting.join()
        time.sleep(5)  # the last statuses and rows
    finally:
        fleet.stop()
    topics = asyncio.run(history.read_topics(settings))
    history.heal_times(injected, topics[history.STATUS])
    database = history.check_database(settings, progress.wanted)
    offsets = history.account_offsets(topics)
    return _result(config, began, published, finished, startup_s, fleet, injected, restarts, database, offsets)


async def _publish(settings: Settings, events: list[InterviewCompleted]) -> None:
    await publish(settings.kafka, topic_for(InterviewCompleted), [(message_key(e), encode(e)) for e in events])


def _inject_all(injector: Injector, plan: list[Fault], published: float, out: list[Injected], say: Any) -> None:
    for fault in plan:
        wait = published + fault.at_s - time.time()
        if wait > 0:
            time.sleep(wait)
        record = injector.inject(fault)
        say(f"  fault {record.kind} {record.target} {record.detail}".rstrip())
        out.append(record)


def _result(
    config: Config,
    began: float,
    published: float,
    finished: float,
    startup_s: float,
    fleet: Fleet,
    injected: list[Injected],
    restarts: list[str],
    database: dict[str, Any],
    offsets: dict[str, Any],
) -> dict[str, Any]:
    rebalances = fleet.rebalances()
    by_kind: dict[str, int] = {}
    for fault in injected:
        by_kind[fault.kind] = by_kind.get(fault.kind, 0) + 1
    duplicates = sum(database["duplicates"].values())
    lost = len(database["lost"])
    checks = {
        "every_interview_one_current_profile": not database["lost"] and not database["not_one_current"],
        "profiles_complete_or_missing_parts_named": not database["partial_silent"],
        "no_duplicate_rows_without_final": duplicates == 0,
        "every_input_offset_accounted_for": offsets["outcomes"].get("unaccounted", 0) == 0,
        "every_fault_injected": len(injected) == config.faults,
    }
    return {
        "seed": config.seed,
        "config": {
            "interviews": config.interviews,
            "replicas": {stage: config.replicas_for(stage) for stage in STAGES},
            "faults": config.faults,
            "fault_window_s": list(config.fault_window_s),
        },
        "passed": all(checks.values()),
        "checks": checks,
        "startup_s": round(startup_s, 1),
        "processing_wall_s": round(finished - published, 1),
        "total_wall_s": round(time.time() - began, 1),
        "faults_by_kind": dict(sorted(by_kind.items())),
        "interviews": {
            "published": config.interviews,
            "complete": database["complete"],
            "partial_named": len(database["partial_named"]),
            "partial_silent": database["partial_silent"],
            "lost": database["lost"],
            "not_one_current": database["not_one_current"],
            "stored": database["interviews_stored"],
        },
        "duplicates": database["duplicates"],
        "duplicate_rows": duplicates,
        "lost": lost,
        "offsets": offsets,
        "recovery": history.recovery(injected),
        "rebalances": {"total": sum(rebalances.values()), "by_consumer": rebalances},
        "replica_exits_restarted": {
            "count": sum(fleet.crashed.values()),
            "by_stage": dict(fleet.crashed),
            "which": restarts,
        },
        "faults": [f.as_dict() for f in injected],
    }
