"""The faults of the campaign: a schedule drawn from a seed, and how each fault is done to the running
pipeline. Faults are injected one after another (the next waits until the previous one is over), each at its
scheduled moment or as soon as the previous one ends."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

from services.common.settings import Settings
from services.common.stack import stack_status, start_stack, stop_component
from tests.chaos.fleet import SINGLE_REPLICA, SINK, STAGES, Fleet, Replica

#: A supervisor's restart delay after a crash.
RESTART_DELAY_S = 1.0
#: How long the broker or the object store stays down on a restart.
OUTAGE_S = 3.0
#: How long the whole sink stays paused.
SINK_PAUSE_S = 12.0
MAX_REPLICAS = 3


class Kind(StrEnum):
    KILL = "kill_replica"  # SIGKILL of one stage replica, restarted by the supervisor
    HANG = "hang_replica"  # SIGSTOP beyond the session timeout, then SIGCONT
    # The broker hung past the session timeout (SIGSTOP, SIGCONT): every connection, group and in-flight produce
    # times out. Not a restart: on the local broker's only persistent storage a restart, even SIGTERM, loses
    # acknowledged records (tests/chaos/broker_restart.py, docs/operations.md).
    BROKER = "pause_broker"
    S3 = "restart_s3"  # the S3 gateway down and up again
    DB_OWNER = "kill_db_owner"  # SIGKILL of the process owning the embedded database (the sink)
    SINK_PAUSE = "pause_sink"  # every sink replica stopped at once, then continued
    SCALE_UP = "scale_up"  # one more replica of a stage
    SCALE_DOWN = "scale_down"  # one replica of a stage retired (SIGTERM)


#: How often each kind is drawn once every kind has been scheduled once.
WEIGHTS: dict[Kind, int] = {
    Kind.KILL: 4,
    Kind.HANG: 2,
    Kind.BROKER: 1,
    Kind.S3: 1,
    Kind.DB_OWNER: 1,
    Kind.SINK_PAUSE: 1,
    Kind.SCALE_UP: 1,
    Kind.SCALE_DOWN: 1,
}
SCALABLE = tuple(stage for stage in STAGES if stage not in SINGLE_REPLICA)


@dataclass(frozen=True)
class Fault:
    at_s: float  # seconds after the interviews were published
    kind: Kind
    stage: str | None  # the stage it hits (None: the whole pipeline)
    pick: int  # which replica, modulo the live ones at the time


def schedule(seed: int, count: int, start_s: float, end_s: float, kinds: Sequence[Kind] = tuple(Kind)) -> list[Fault]:
    """``count`` faults of the given ``kinds`` between ``start_s`` and ``end_s``: every kind at least once (when
    count allows), the rest drawn by `WEIGHTS`; the same seed gives the same schedule."""
    rng = random.Random(seed)
    allowed = list(kinds)
    drawn = allowed[:count]
    population, weights = zip(*((k, w) for k, w in WEIGHTS.items() if k in allowed), strict=True)
    drawn += rng.choices(population, weights, k=count - len(drawn))
    rng.shuffle(drawn)
    times = sorted(rng.uniform(start_s, end_s) for _ in drawn)
    return [
        Fault(round(at, 1), kind, _stage_of(kind, rng), rng.randrange(1000))
        for at, kind in zip(times, drawn, strict=True)
    ]


def _stage_of(kind: Kind, rng: random.Random) -> str | None:
    if kind in (Kind.KILL, Kind.HANG):
        return rng.choice(STAGES)
    if kind in (Kind.SCALE_UP, Kind.SCALE_DOWN):
        return rng.choice(SCALABLE)
    if kind in (Kind.DB_OWNER, Kind.SINK_PAUSE):
        return SINK
    return None


@dataclass
class Injected:
    """What was done, and when (wall clock, seconds since the epoch)."""

    kind: str
    stage: str | None
    at_s: float
    injected_at: float
    ended_at: float = 0.0
    target: str = ""
    detail: str = ""
    heal_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["down_s"] = round(self.ended_at - self.injected_at, 1)
        return out


class Injector:
    def __init__(self, settings: Settings, fleet: Fleet, session_timeout_s: float) -> None:
        self.settings = settings
        self.fleet = fleet
        #: A hung replica stays stopped this long: past the session timeout, so its group evicts it.
        self.hang_s = session_timeout_s * 1.5 + 1.0

    def inject(self, fault: Fault) -> Injected:
        record = Injected(fault.kind.value, fault.stage, fault.at_s, time.time())
        getattr(self, f"_{fault.kind.name.lower()}")(fault, record)
        record.ended_at = time.time()
        return record

    def _victim(self, fault: Fault) -> Replica | None:
        assert fault.stage is not None
        live = self.fleet.live(fault.stage)
        return live[fault.pick % len(live)] if live else None

    def _target(self, fault: Fault, record: Injected) -> Replica | None:
        """The replica a fault hits, noted in the record (None: the stage has no live replica)."""
        victim = self._victim(fault)
        if victim is None:
            record.detail = "no live replica"
        else:
            record.target = victim.name
        return victim

    def _kill(self, fault: Fault, record: Injected) -> None:
        victim = self._target(fault, record)
        if victim is None:
            return
        self.fleet.kill(victim)
        time.sleep(RESTART_DELAY_S)
        record.detail = f"replaced by {self.fleet.start(victim.stage).name}"

    def _db_owner(self, fault: Fault, record: Injected) -> None:
        self._kill(fault, record)

    def _hang(self, fault: Fault, record: Injected) -> None:
        victim = self._target(fault, record)
        if victim is None:
            return
        self.fleet.pause(victim)
        time.sleep(self.hang_s)
        self.fleet.resume(victim)
        record.detail = f"stopped {self.hang_s:.0f}s"

    def _sink_pause(self, fault: Fault, record: Injected) -> None:
        victims = self.fleet.live(SINK)
        record.target = ",".join(v.name for v in victims)
        for victim in victims:
            self.fleet.pause(victim)
        time.sleep(SINK_PAUSE_S)
        for victim in victims:
            self.fleet.resume(victim)
        record.detail = f"stopped {SINK_PAUSE_S:.0f}s"

    def _broker(self, fault: Fault, record: Injected) -> None:
        pid = stack_status(self.settings)["kafka"].pid
        assert pid is not None, "the broker is not running"
        record.target = f"kafka (pid {pid})"
        os.kill(pid, signal.SIGSTOP)
        time.sleep(self.hang_s)
        os.kill(pid, signal.SIGCONT)
        record.detail = f"stopped {self.hang_s:.0f}s"

    def _s3(self, fault: Fault, record: Injected) -> None:
        self._outage("s3", record)

    def _outage(self, component: Literal["s3", "kafka"], record: Injected) -> None:
        record.target = component
        stop_component(self.settings, component)
        time.sleep(OUTAGE_S)
        started = time.monotonic()
        start_stack(self.settings)
        record.detail = f"down {OUTAGE_S:.0f}s, ready again in {time.monotonic() - started:.1f}s"

    def _scale_up(self, fault: Fault, record: Injected) -> None:
        assert fault.stage is not None
        if len(self.fleet.live(fault.stage)) >= MAX_REPLICAS:
            victim = self._victim(fault)
            record.detail = f"at {MAX_REPLICAS} replicas: retired {victim.name} first"
            self.fleet.retire(victim)
        record.target = self.fleet.start(fault.stage).name

    def _scale_down(self, fault: Fault, record: Injected) -> None:
        assert fault.stage is not None
        victim = self._victim(fault)
        if victim is None:
            return
        record.target = victim.name
        self.fleet.retire(victim)
        if not self.fleet.live(fault.stage):  # never to zero: that is an outage, not a scale-down
            record.detail = f"replaced by {self.fleet.start(fault.stage).name}"
