"""Both stream engines (the shared loop and faust) against the real broker: commits, retries, dead letters,
rebalancing, crashes. Every test runs on each engine: they promise the same behaviour."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from services.common.contracts import (
    DeadLetter,
    EventBase,
    InterviewCompleted,
    MediaIngested,
    StageStatus,
    dead_letter_topic,
    decode,
    deterministic_event_id,
    encode,
    message_key,
    topic_for,
)
from services.common.engines import Worker, create_worker
from services.common.faust_worker import FaustStageWorker
from services.common.handler import FatalWorkerError, MessageMeta, Retryable, StageHandler
from services.common.settings import Settings
from tests.integration.kafka_helpers import (
    Record,
    committed_total,
    consumer_groups,
    create_topics,
    isolated,
    publish,
    read_topic,
    wait_for,
)
from tests.integration.stage_fixtures import EchoStage, example, spawn_echo_worker

IN = topic_for(InterviewCompleted)
OUT = topic_for(MediaIngested)
STATUS = topic_for(StageStatus)
DLQ = dead_letter_topic("ingest")


@pytest.fixture(params=["loop", "faust"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_worker(engine: str, stage: StageHandler, settings: Settings, *, group_id: str) -> Worker:
    worker = settings.worker.model_copy(update={"engine": engine})
    return create_worker(stage, settings.model_copy(update={"worker": worker}), group_id=group_id)


def interview(interview_id: str) -> InterviewCompleted:
    base = InterviewCompleted.model_validate(example("interview-completed"))
    return base.model_copy(update={"interview_id": interview_id, "event_id": uuid.uuid4()})


def messages(ids: list[str]) -> list[tuple[bytes | None, bytes]]:
    return [(message_key(ev), encode(ev)) for ev in (interview(i) for i in ids)]


def outputs(records: list[Record]) -> list[MediaIngested]:
    return [e for e in (decode(OUT, r.value) for r in records) if isinstance(e, MediaIngested)]


def _distinct(records: list[Record]) -> set[str]:
    return {json.loads(r.value)["event_id"] for r in records}


def statuses(records: list[Record]) -> list[StageStatus]:
    return [e for e in (decode(STATUS, r.value) for r in records) if isinstance(e, StageStatus)]


async def prepared(stack_settings: Settings, **worker: object) -> Settings:
    settings = isolated(stack_settings, **worker)
    await create_topics(settings.kafka, [IN, OUT, STATUS, DLQ])
    return settings


async def run_until(worker: Worker, condition: object, timeout_s: float = 60.0) -> None:
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: task.done() or condition(), timeout_s, "the worker's outputs")  # type: ignore[operator]
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)


async def test_outputs_are_produced_statuses_reported_and_offsets_committed(
    engine: str, stack_settings: Settings
) -> None:
    settings = await prepared(stack_settings)
    ids = [f"iv-{i}" for i in range(10)]
    await publish(settings.kafka, IN, messages(ids))
    stage = EchoStage()
    worker = make_worker(engine, stage, settings, group_id=f"g-happy-{engine}")
    await run_until(worker, lambda: len(stage.handled) == len(ids))
    out = outputs(await read_topic(settings.kafka, OUT, lambda r: len(_distinct(r)) >= len(ids)))
    assert sorted({o.interview_id: o for o in out}) == sorted(ids)
    status_records = await read_topic(settings.kafka, STATUS, lambda r: len(_distinct(r)) >= 2 * len(ids))
    states = Counter(
        (s.interview_id, s.state.value) for s in {s.event_id: s for s in statuses(status_records)}.values()
    )
    assert all(states[(i, "started")] == 1 and states[(i, "completed")] == 1 for i in ids)
    assert await committed_total(settings.kafka, f"g-happy-{engine}", IN) == len(ids)
    # The group carries the topic prefix: environments sharing the cluster do not share it.
    groups = await consumer_groups(settings.kafka)
    assert f"{settings.kafka.topic_prefix}g-happy-{engine}" in groups and f"g-happy-{engine}" not in groups


class EarlyStage(EchoStage):
    """Emits a first output from a worker thread, waits until it is on the topic, then fails once (first
    attempt) or returns it again with a second output."""

    output_topics = (OUT,)

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.seen_before_return: dict[str, bool] = {}

    def _output(self, event: InterviewCompleted, n: int) -> MediaIngested:
        return self._template.model_copy(
            update={
                "event_id": deterministic_event_id("early", event.event_id.hex, str(n)),
                "tenant_id": event.tenant_id,
                "interview_id": event.interview_id,
            }
        )

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        assert isinstance(event, InterviewCompleted) and meta.emit is not None
        self.attempts[event.interview_id] += 1
        first = self._output(event, 1)
        await asyncio.to_thread(meta.emit, first)
        on_topic = await read_topic(
            self.settings.kafka, OUT, lambda r: str(first.event_id) in _distinct(r), timeout_s=20
        )
        self.seen_before_return[event.interview_id] = str(first.event_id) in _distinct(on_topic)
        if self.attempts[event.interview_id] == 1:
            raise Retryable("store unavailable after the first output")
        return [first, self._output(event, 2)]


async def test_outputs_emitted_early_arrive_before_the_handler_returns_and_only_once(
    engine: str,
    stack_settings: Settings,
) -> None:
    settings = await prepared(stack_settings)
    await publish(settings.kafka, IN, messages(["iv-early"]))
    stage = EarlyStage(settings)
    worker = make_worker(engine, stage, settings, group_id=f"g-early-{engine}")
    await run_until(worker, lambda: _committed_is(settings, f"g-early-{engine}", 1))
    assert stage.attempts["iv-early"] == 2 and stage.seen_before_return == {"iv-early": True}
    done = await read_topic(settings.kafka, STATUS, lambda r: any(s.state.value == "completed" for s in statuses(r)))
    assert [s.emitted for s in statuses(done) if s.state.value == "completed"] == [{OUT: 2}]
    # Two attempts of one delivery (no re-delivery: attempts == 2): the first output, emitted on both attempts
    # and returned too, was sent once; the return value added only the second.
    out = await read_topic(settings.kafka, OUT, lambda r: len(r) >= 2)
    await asyncio.sleep(0.5)
    out = await read_topic(settings.kafka, OUT, lambda r: len(r) >= len(out))
    assert sorted(Counter(json.loads(r.value)["event_id"] for r in out).values()) == [1, 1], out


async def test_bad_input_ends_in_a_recorded_failure_or_a_retry(engine: str, stack_settings: Settings) -> None:
    settings = await prepared(stack_settings)
    invalid = json.loads(encode(interview("iv-invalid")))
    del invalid["interview_id"]
    wrong_type = json.loads(encode(interview("iv-wrong-type")))
    wrong_type["questions"] = "tell me about yourself"
    raw = [
        (b"k1", b"\x00not json at all"),
        (b"k2", json.dumps(invalid).encode()),
        (b"k3", json.dumps(wrong_type).encode()),
    ]
    await publish(settings.kafka, IN, raw + messages(["iv-reject", "iv-flaky2", "iv-crash", "iv-ok"]))
    stage = EchoStage()
    worker = make_worker(engine, stage, settings, group_id=f"g-bad-{engine}")
    # Every one of the seven messages ends committed: handled, rejected or dead-lettered.
    await run_until(worker, lambda: _committed_is(settings, f"g-bad-{engine}", 7))
    assert stage.attempts["iv-crash"] == 3

    # At-least-once: a re-delivery may repeat a record, with the same deterministic event id.
    dlq = await read_topic(settings.kafka, DLQ, lambda r: len(_distinct(r)) >= 4)
    letters = list({d.event_id: d for d in (DeadLetter.model_validate_json(r.value) for r in dlq)}.values())
    by_payload = {base64.b64decode(d.payload_b64): d for d in letters}
    assert raw[0][1] in by_payload and raw[1][1] in by_payload  # the original bytes, exactly
    crash = [d for d in letters if d.interview_id == "iv-crash"]
    assert len(crash) == 1 and crash[0].attempts == 3 and crash[0].error.type == "RuntimeError"
    assert by_payload[raw[0][1]].source.topic == IN and by_payload[raw[0][1]].error.retryable is False
    assert len(letters) == 4  # rejected and recovered messages are not dead letters

    status_records = await read_topic(settings.kafka, STATUS, lambda r: len(_distinct(r)) >= 13)
    status = list({s.event_id: s for s in statuses(status_records)}.values())
    invalid_status = [s for s in status if s.interview_id == "iv-wrong-type"]
    assert [s.state.value for s in invalid_status] == ["failed"]
    assert invalid_status[0].reason is not None and invalid_status[0].reason.code == "invalid_event"
    assert "questions" in invalid_status[0].reason.message
    reject = [s for s in status if s.interview_id == "iv-reject" and s.state.value == "failed"]
    assert len(reject) == 1 and reject[0].reason is not None and reject[0].reason.code == "no_consent"
    flaky = [s.state.value for s in status if s.interview_id == "iv-flaky2"]
    assert flaky.count("retrying") == 2 and flaky.count("completed") == 1
    crashed = [s for s in status if s.interview_id == "iv-crash" and s.state.value == "failed"]
    assert crashed and crashed[0].reason is not None and crashed[0].reason.code == "internal_error"

    out = outputs(await read_topic(settings.kafka, OUT, lambda r: len(r) >= 2))
    assert sorted(o.interview_id for o in out) == ["iv-flaky2", "iv-ok"]
    assert await committed_total(settings.kafka, f"g-bad-{engine}", IN) == 7


async def test_a_slow_message_neither_blocks_polling_nor_costs_the_group_membership(
    engine: str, stack_settings: Settings
) -> None:
    settings = await prepared(stack_settings, max_in_flight=2)
    settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"max_poll_interval_ms": 2000})})
    ids = ["iv-a-slow"] + [f"iv-{i}" for i in range(6)]
    await publish(settings.kafka, IN, messages(ids))
    stage = EchoStage(slow_s=5.0)
    worker = make_worker(engine, stage, settings, group_id=f"g-slow-{engine}")
    await run_until(worker, lambda: len(stage.handled) == len(ids))
    assert stage.max_concurrent <= 2
    assert all(n == 1 for n in stage.attempts.values())  # no rebalance re-delivered anything
    assert await committed_total(settings.kafka, f"g-slow-{engine}", IN) == len(ids)


async def test_a_slow_message_holds_back_its_partitions_commit_while_later_ones_finish(
    engine: str, stack_settings: Settings
) -> None:
    settings = await prepared(stack_settings, max_in_flight=4, commit_interval_s=0.2)
    ids = ["iv-h-0", "iv-h-slow", "iv-h-1", "iv-h-2", "iv-h-3"]
    # One key, so one partition: the slow message sits right after a finished one, before three more.
    await publish(settings.kafka, IN, [(b"one-partition", value) for _, value in messages(ids)])
    stage = EchoStage(slow_s=4.0)
    worker = make_worker(engine, stage, settings, group_id=f"g-hold-{engine}")
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: {"iv-h-0", "iv-h-1", "iv-h-2", "iv-h-3"} <= set(stage.handled), what="the fast ones")
        await asyncio.sleep(1.0)  # several commit intervals while the slow one is still in flight
        assert "iv-h-slow" not in stage.handled
        assert await committed_total(settings.kafka, f"g-hold-{engine}", IN) == 1  # not past the slow one
        await wait_for(lambda: _committed_is(settings, f"g-hold-{engine}", len(ids)), what="all committed")
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)


async def test_a_full_worker_reports_back_pressure(engine: str, stack_settings: Settings) -> None:
    settings = await prepared(stack_settings, max_in_flight=1)
    # One partition, slow message first: the next ones must wait for its slot.
    await publish(settings.kafka, IN, [(b"one-partition", v) for _, v in messages(["iv-p-slow", "iv-p-1", "iv-p-2"])])
    stage = EchoStage(slow_s=3.0)
    worker = make_worker(engine, stage, settings, group_id=f"g-pressure-{engine}")
    paused = worker.metrics.paused.labels("ingest")
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: paused._value.get() == 1 or task.done(), 30, "back-pressure while the slot is busy")
        assert not task.done()
        await wait_for(lambda: len(stage.handled) == 3, 30, "all messages")
        await wait_for(lambda: paused._value.get() == 0, 10, "back-pressure to end")
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)


async def test_two_workers_share_the_partitions_and_one_takes_over_when_the_other_leaves(
    engine: str,
    stack_settings: Settings,
) -> None:
    settings = await prepared(stack_settings)
    first_ids = [f"iv-first-{i}" for i in range(12)]
    await publish(settings.kafka, IN, messages(first_ids))
    a, b = EchoStage(), EchoStage()
    wa, wb = (
        make_worker(engine, a, settings, group_id=f"g-share-{engine}"),
        make_worker(engine, b, settings, group_id=f"g-share-{engine}"),
    )
    ta, tb = asyncio.create_task(wa.run()), asyncio.create_task(wb.run())
    try:
        await wait_for(lambda: len(a.handled) + len(b.handled) >= len(first_ids), what="first batch")
        await wait_for(lambda: committed_total(settings.kafka, f"g-share-{engine}", IN), what="commit")
        wa.stop()
        await asyncio.wait_for(ta, 60)
        later_ids = [f"iv-later-{i}" for i in range(8)]
        await publish(settings.kafka, IN, messages(later_ids))
        await wait_for(lambda: set(later_ids) <= set(b.handled), what="the survivor to take over")
    finally:
        wb.stop()
        await asyncio.wait_for(tb, 60)
    handled = a.handled + b.handled
    assert sorted(set(handled)) == sorted(first_ids + later_ids)
    assert len(handled) == len(set(handled))  # a graceful hand-over processes nothing twice
    # Each replica counts the rebalances it went through: its join, and for the survivor the hand-over too.
    assert wa.metrics.rebalances.labels("ingest")._value.get() >= 1
    assert wb.metrics.rebalances.labels("ingest")._value.get() >= 2
    assert await committed_total(settings.kafka, f"g-share-{engine}", IN) == 20


async def test_a_crashed_faust_app_ends_the_worker_with_an_error(
    stack_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a pod's working directory is read-only: faust must not write there
    settings = await prepared(stack_settings)
    worker = make_worker("faust", EchoStage(), settings, group_id="g-crash")
    assert isinstance(worker, FaustStageWorker)
    task = asyncio.create_task(worker.run())
    await wait_for(lambda: worker.started or task.done(), what="the worker to start")
    await worker.app.crash(RuntimeError("the consumer thread died"))
    with pytest.raises(FatalWorkerError, match="consumer thread died"):
        await asyncio.wait_for(task, 60)
    assert list(tmp_path.iterdir()) == []


async def test_a_worker_killed_mid_message_loses_nothing_and_commits_it_once(
    engine: str, stack_settings: Settings, tmp_path: Path
) -> None:
    settings = await prepared(stack_settings)
    ids = [f"iv-{i}" for i in range(6)] + ["iv-k-slow"]
    await publish(settings.kafka, IN, messages(ids))
    proc = spawn_echo_worker(
        engine, settings, f"g-kill-{engine}", {"ECHO_SLOW_S": "120", "ECHO_MARKER_DIR": str(tmp_path)}
    )
    try:
        await wait_for(lambda: (tmp_path / "iv-k-slow.started").exists(), 90, "the slow message to start")
        await read_topic(settings.kafka, OUT, lambda r: len(r) >= 6)
    finally:
        proc.send_signal(signal.SIGKILL)  # no chance to finish, produce or commit
        proc.wait(30)
    assert await committed_total(settings.kafka, f"g-kill-{engine}", IN) < len(ids)

    restarted = spawn_echo_worker(engine, settings, f"g-kill-{engine}", {"ECHO_SLOW_S": "0"})
    try:
        records = await read_topic(
            settings.kafka, OUT, lambda r: any(o.interview_id == "iv-k-slow" for o in outputs(r)), 120
        )
        await wait_for(
            lambda: _committed_is(settings, f"g-kill-{engine}", len(ids)),
            60,
            "the restarted worker to commit everything",
        )
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(60) == 0
    out = outputs(records)
    assert {o.interview_id for o in out} == set(ids)  # nothing lost
    assert sum(o.interview_id == "iv-k-slow" for o in out) == 1  # the killed message was produced once
    by_interview: dict[str, set[uuid.UUID]] = {}
    for o in out:
        by_interview.setdefault(o.interview_id, set()).add(o.event_id)
    # Anything re-delivered was re-emitted with the same event id, so sinks de-duplicate it.
    assert all(len(event_ids) == 1 for event_ids in by_interview.values())


async def _committed_is(settings: Settings, group: str, expected: int) -> bool:
    return await committed_total(settings.kafka, group, IN) == expected


async def test_sigterm_lets_in_flight_work_finish_then_commits_and_leaves(
    engine: str, stack_settings: Settings, tmp_path: Path
) -> None:
    settings = await prepared(stack_settings)
    ids = ["iv-t-slow", "iv-t-1", "iv-t-2"]
    await publish(settings.kafka, IN, messages(ids))
    proc = spawn_echo_worker(
        engine, settings, f"g-term-{engine}", {"ECHO_SLOW_S": "4", "ECHO_MARKER_DIR": str(tmp_path)}
    )
    await wait_for(lambda: (tmp_path / "iv-t-slow.started").exists(), 90, "the slow message to start")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 60) == 0
    out = outputs(await read_topic(settings.kafka, OUT, lambda r: len(r) >= len(ids)))
    assert Counter(o.interview_id for o in out) == Counter(ids)
    assert await committed_total(settings.kafka, f"g-term-{engine}", IN) == len(ids)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_health_and_metrics_endpoints(engine: str, stack_settings: Settings, path: str) -> None:
    import urllib.request

    settings = await prepared(stack_settings)
    await publish(settings.kafka, IN, messages(["iv-m-1"]))
    stage = EchoStage()
    worker = make_worker(engine, stage, settings, group_id=f"g-metrics-{engine}")
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: stage.handled and worker.health.bound_port, what="first message")
        # The message's time is observed once its outputs are acknowledged, a moment after the handler returns.
        await wait_for(lambda: worker.metrics.processing_seconds._metrics, what="the first processing time")
        url = f"http://127.0.0.1:{worker.health.bound_port}{path}"
        with await asyncio.to_thread(urllib.request.urlopen, url, None, 10) as response:
            body = response.read().decode()
            assert response.status == 200
        if path == "/metrics":
            assert 'sightline_messages_in_total{stage="ingest"' in body
            assert "sightline_processing_seconds_bucket" in body
            assert 'sightline_rebalances_total{stage="ingest"} 1.0' in body
        else:
            assert json.loads(body)["status"] == "ok"
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)
