"""A worker asked to stop while the broker is gone exits within its bound, commits nothing wrong and loses
nothing: the broker hangs (SIGSTOP, so every connection, commit and produce waits rather than fails), the
worker gets SIGTERM with a message in flight; once the broker is back a new worker in the same group
processes what the first one handed back.

A stack of its own: the broker of the shared one must not stop under the other tests.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.settings import Settings
from services.common.stack import local_stack_settings, stack_status, start_stack, stop_stack
from tests.integration.kafka_helpers import committed_total, create_topics, isolated, publish, read_topic, wait_for
from tests.integration.stage_fixtures import spawn_echo_worker
from tests.integration.test_worker import DLQ, IN, OUT, STATUS, messages, outputs

DRAIN_S = 2.0
SHUTDOWN_S = 5.0
#: Interpreter start-up and exit on a busy machine, on top of the worker's own bounds.
SLACK_S = 10.0


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Settings]:
    settings = local_stack_settings(tmp_path / "stack")
    start_stack(settings)
    try:
        yield settings
    finally:
        broker = stack_status(settings)["kafka"].pid
        if broker is not None:
            os.kill(broker, signal.SIGCONT)
        stop_stack(settings)


@pytest.mark.parametrize("engine", ["loop", "faust"])
async def test_a_worker_stopped_while_the_broker_hangs_exits_in_time_and_loses_nothing(
    engine: str, own_stack: Settings, tmp_path: Path
) -> None:
    settings = isolated(own_stack)
    await create_topics(settings.kafka, [IN, OUT, STATUS, DLQ])
    group = f"g-gone-{engine}-{uuid.uuid4().hex[:6]}"
    ids = ["iv-g-1", "iv-g-2", "iv-g-slow"]
    await publish(settings.kafka, IN, messages(ids))
    log = tmp_path / "worker.log"
    bounds = {
        "SIGHTLINE_WORKER__DRAIN_TIMEOUT_S": str(DRAIN_S),
        "SIGHTLINE_WORKER__SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_S),
    }
    proc = spawn_echo_worker(
        engine, settings, group, {"ECHO_SLOW_S": "300", "ECHO_MARKER_DIR": str(tmp_path), **bounds}, log
    )
    broker = stack_status(own_stack)["kafka"].pid
    assert broker is not None
    try:
        await wait_for(lambda: (tmp_path / "iv-g-slow.started").exists(), 90, "the slow message to start")
        await read_topic(settings.kafka, OUT, lambda r: len(r) >= 2)

        os.kill(broker, signal.SIGSTOP)
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(_exit_code_within, proc, DRAIN_S + SHUTDOWN_S + SLACK_S)
        took = time.monotonic() - asked
    finally:
        os.kill(broker, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    said = log.read_text()
    assert code == 0, said  # not None: it exited within drain + shutdown bound (+ start-up slack)
    print(f"stopped in {took:.1f}s with the broker hung")
    assert "handed back unfinished messages" in said, said
    assert "worker stopped" in said, said

    restarted = spawn_echo_worker(engine, settings, group, {"ECHO_SLOW_S": "0"}, log)
    try:
        records = await read_topic(
            settings.kafka, OUT, lambda r: any(o.interview_id == "iv-g-slow" for o in outputs(r)), 120
        )
        await wait_for(lambda: _committed_is(settings, group, len(ids)), 90, "the new worker to commit every message")
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(restarted.wait, 60) == 0
    out = outputs(records)
    assert {o.interview_id for o in out} == set(ids)  # nothing lost
    assert sum(o.interview_id == "iv-g-slow" for o in out) == 1  # the handed-back message, produced once


def _exit_code_within(proc: subprocess.Popen[bytes], timeout_s: float) -> int | None:
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        return None


async def _committed_is(settings: Settings, group: str, expected: int) -> bool:
    return await committed_total(settings.kafka, group, IN) == expected
