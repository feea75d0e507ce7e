"""Stage replicas as processes, run the way a supervisor (Kubernetes) runs them: started, killed, hung,
scaled, and restarted when one exits on its own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from services.analyse.pipeline import DEPLOYED_STAGES
from services.common.contracts import StageName
from services.common.settings import PROJECT_ROOT

STAGES: tuple[str, ...] = tuple(stage.value for stage in StageName)
SINK = StageName.SINK.value
#: With the embedded ClickHouse only one process may open the database: the sink runs as one replica.
SINGLE_REPLICA = frozenset({SINK})
READY_LINE = b"worker started"
#: What a worker logs at the end of each rebalance it goes through (services.common.runner), with the consumer's
#: metrics label: the stage, or one of the sink's side consumers (sink-status, sink-dead-letters, ...).
REBALANCE_LINE = re.compile(rb"partitions assigned to (\S+): \d+")


@dataclass
class Replica:
    stage: str
    index: int
    proc: subprocess.Popen[bytes]
    log: Path
    started_at: float = field(default_factory=time.time)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def name(self) -> str:
        return f"{self.stage}-{self.index}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ready(self) -> bool:
        """The worker joined its consumer group (it logs so once its models are loaded)."""
        try:
            return READY_LINE in self.log.read_bytes()
        except OSError:
            return False


class Fleet:
    """Every replica of every stage; what a supervisor would restart is restarted by `supervise`."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.replicas: dict[str, list[Replica]] = {stage: [] for stage in STAGES}
        self._numbers: Counter[str] = Counter()
        #: Replicas that exited on their own (not killed or retired here), by stage.
        self.crashed: Counter[str] = Counter()
        #: Faults and the supervisor act from different threads.
        self._lock = threading.RLock()

    def start(self, stage: str) -> Replica:
        with self._lock:
            return self._start(stage)

    def _start(self, stage: str) -> Replica:
        index = self._numbers[stage]
        self._numbers[stage] += 1
        log = self.logs / f"{stage}-{index}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", DEPLOYED_STAGES[stage]],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=PROJECT_ROOT,
                start_new_session=True,
            )
        replica = Replica(stage, index, proc, log)
        self.replicas[stage].append(replica)
        return replica

    def live(self, stage: str) -> list[Replica]:
        with self._lock:
            return [r for r in self.replicas[stage] if r.alive()]

    def all_live(self) -> list[Replica]:
        return [r for stage in STAGES for r in self.live(stage)]

    def wait_ready(self, replicas: list[Replica], timeout_s: float) -> float:
        """Seconds until every replica joined its group; raises when one dies or the time runs out."""
        started = time.monotonic()
        while not all(r.ready() for r in replicas):
            dead = [r.name for r in replicas if not r.alive()]
            if dead:
                raise RuntimeError(f"replica(s) {', '.join(dead)} exited while starting; see {self.logs}")
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"replicas not ready after {timeout_s:.0f}s; see {self.logs}")
            time.sleep(0.5)
        return time.monotonic() - started

    def kill(self, replica: Replica) -> None:
        """SIGKILL: the process dies mid-message, as on an out-of-memory kill or a lost node."""
        with self._lock:
            self._signal(replica, signal.SIGKILL)
            replica.proc.wait()
            self.replicas[replica.stage].remove(replica)

    def retire(self, replica: Replica) -> None:
        """SIGTERM, as a scale-down does: in-flight work finishes or is handed back."""
        with self._lock:
            self._signal(replica, signal.SIGTERM)
            try:
                replica.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill(replica)
                return
            self.replicas[replica.stage].remove(replica)

    def pause(self, replica: Replica) -> None:
        self._signal(replica, signal.SIGSTOP)

    def resume(self, replica: Replica) -> None:
        self._signal(replica, signal.SIGCONT)

    def supervise(self) -> list[str]:
        """Restart replicas that exited on their own; their names."""
        restarted = []
        with self._lock:
            for stage in STAGES:
                for replica in [r for r in self.replicas[stage] if not r.alive()]:
                    self.replicas[stage].remove(replica)
                    self.crashed[stage] += 1
                    restarted.append(f"{replica.name} (exit {replica.proc.returncode})")
                    self._start(stage)
        return restarted

    def rebalances(self) -> dict[str, int]:
        """Rebalances every replica went through, by consumer, from all the logs (a killed replica's count
        survives it): each rebalance counts once per member of the group, each replica's first join included."""
        seen: Counter[str] = Counter()
        for log in self.logs.glob("*.log"):
            seen.update(m.group(1).decode() for m in REBALANCE_LINE.finditer(log.read_bytes()))
        return dict(sorted(seen.items()))

    def stop(self) -> None:
        """Every replica: producers first (each finishes what it holds), then the sink, which stores their last
        words."""
        for replica in self.all_live():
            self.resume(replica)
        producers = [r for r in self.all_live() if r.stage != SINK]
        for replica in producers:
            self._signal(replica, signal.SIGTERM)
        for replica in producers:
            _wait_or_kill(replica)
        time.sleep(3.0)  # the sink's flush interval, a few times over
        for replica in self.live(SINK):
            self._signal(replica, signal.SIGTERM)
            _wait_or_kill(replica)

    @staticmethod
    def _signal(replica: Replica, sig: signal.Signals) -> None:
        if replica.alive():
            os.kill(replica.pid, sig)


def _wait_or_kill(replica: Replica) -> None:
    try:
        replica.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        replica.proc.kill()
        replica.proc.wait()
