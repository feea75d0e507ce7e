"""The local stack with real processes: health, Kafka and S3 round trips, idempotence, persistence, CLI."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from click.testing import CliRunner
from minio import Minio

from services.common.settings import Settings, StackSettings
from services.common.stack import (
    StackPaths,
    find_juicefs,
    find_tansu,
    local_stack_settings,
    stack_status,
    start_stack,
    stop_stack,
)
from services.common.stack_cli import stack

DEV_PORTS = {19092, 19000}


def _env(settings: Settings) -> dict[str, str]:
    """Environment that makes `Settings()` (as the CLI builds it) describe ``settings``' stack."""
    return {
        "SIGHTLINE_STACK__HOME": str(settings.stack.home),
        "SIGHTLINE_STACK__KAFKA_PORT": str(settings.stack.kafka_port),
        "SIGHTLINE_STACK__S3_PORT": str(settings.stack.s3_port),
        "SIGHTLINE_STACK__BROKER_STORAGE": settings.stack.broker_storage,
        "SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SIGHTLINE_S3__ENDPOINT": settings.s3.endpoint,
        "SIGHTLINE_CLICKHOUSE__DSN": settings.clickhouse.dsn,
    }


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _minio(settings: Settings) -> Minio:
    return Minio(
        settings.s3.endpoint,
        access_key=settings.s3.access_key,
        secret_key=settings.s3.secret_key.get_secret_value(),
        secure=settings.s3.secure,
        region=settings.s3.region,
    )


def _consumer(settings: Settings, group_id: str | None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )


def _producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_idempotence=False, acks="all")


async def _create_topic(settings: Settings, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def _produce(settings: Settings, topic: str, count: int, partitions: int) -> None:
    producer = _producer(settings)
    await producer.start()
    try:
        batch = [
            await producer.send(topic, f"value-{i}".encode(), key=f"key-{i}".encode(), partition=i % partitions)
            for i in range(count)
        ]
        await asyncio.gather(*batch)
    finally:
        await producer.stop()


async def _read_all(settings: Settings, topic: str, partitions: int, expected: int) -> list[bytes]:
    """Every record of ``topic`` from the beginning (no group), until ``expected`` arrived or 15 s passed."""
    consumer = _consumer(settings, None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        values: list[bytes] = []
        deadline = time.monotonic() + 15
        while len(values) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values.extend(r.value for r in records if r.value is not None)
        return values
    finally:
        await consumer.stop()


async def _produce_concurrently(settings: Settings, topic: str, producers: int, count: int) -> set[bytes]:
    """``producers`` clients appending ``count`` records each to partition 0 at once, as the stages do."""

    async def one(name: int) -> set[bytes]:
        producer = _producer(settings)
        await producer.start()
        try:
            values = {f"{name}-{i}".encode() for i in range(count)}
            sent = []
            for value in sorted(values):
                sent.append(await producer.send(topic, value, partition=0))
                await asyncio.sleep(0)  # interleave with the other producers
            await asyncio.gather(*sent)
            return values
        finally:
            await producer.stop()

    return set().union(*await asyncio.gather(*(one(p) for p in range(producers))))


# --------------------------------------------------------------------------------------------
# The session stack


def test_binaries_are_found() -> None:
    assert os.access(find_juicefs(), os.X_OK)
    assert os.access(find_tansu(), os.X_OK)


def test_session_stack_is_healthy_and_private(stack_settings: Settings) -> None:
    status = stack_status(stack_settings)
    assert status.healthy, status.to_json()
    assert {c.name for c in status.components} == {"s3", "kafka", "clickhouse"}
    assert {stack_settings.stack.kafka_port, stack_settings.stack.s3_port}.isdisjoint(DEV_PORTS)
    assert status.home != StackPaths.from_settings(Settings()).home
    assert status["kafka"].endpoint == stack_settings.kafka.bootstrap_servers
    assert status["s3"].endpoint == f"http://{stack_settings.s3.endpoint}"
    for name in ("s3", "kafka"):
        component = status[name]
        assert component.running and component.ready and component.pid is not None
        assert component.log_path is not None and component.log_path.is_file()
        assert component.log_path.parent == status.home / "logs"
        assert (status.home / "run" / f"{name}.pid").read_text().strip() == str(component.pid)
    assert status["clickhouse"].data_dir == status.home / "chdb"
    assert stack_settings.clickhouse.dsn == f"chdb://{status.home / 'chdb'}"


def _listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket ``pid`` listens on, read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            address, port = fields[1].rsplit(":", 1)
            if table == "tcp":
                address = socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1])
            else:
                address = f"ipv6:{address}"
            found.append((address, int(port, 16)))
    return found


def test_components_listen_on_loopback_only(stack_settings: Settings) -> None:
    status = stack_status(stack_settings)
    sockets = {name: _listening(status[name].pid or 0) for name in ("s3", "kafka")}
    assert ("127.0.0.1", stack_settings.stack.s3_port) in sockets["s3"]
    assert sockets["kafka"] == [("127.0.0.1", stack_settings.stack.kafka_port)]
    for address, port in sockets["s3"] + sockets["kafka"]:
        assert address == "127.0.0.1", (address, port)
        # No pprof agent (6060) nor metrics exporter (9567) on their default ports: the developer's
        # stack and this one must be able to run at the same time.
        assert port not in (6060, 9567)


async def test_kafka_round_trip(stack_settings: Settings) -> None:
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    await _create_topic(stack_settings, topic, partitions=2)
    await _produce(stack_settings, topic, count=20, partitions=2)

    consumer = _consumer(stack_settings, f"group-{topic}")
    await consumer.start()
    try:
        consumer.subscribe([topic])
        seen: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(seen) < 20 and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(r.value for r in records if r.value is not None)
        await consumer.commit()
        committed = [await consumer.committed(TopicPartition(topic, p)) for p in range(2)]
    finally:
        await consumer.stop()
    assert sorted(seen) == sorted(f"value-{i}".encode() for i in range(20))
    assert committed == [10, 10]


def test_s3_round_trip(stack_settings: Settings) -> None:
    client = _minio(stack_settings)
    bucket = f"roundtrip-{uuid.uuid4().hex[:8]}"
    client.make_bucket(bucket)
    payload = os.urandom(256 * 1024)
    client.put_object(bucket, "a/b.bin", io.BytesIO(payload), len(payload), metadata={"x-amz-meta-origin": "test"})
    response = client.get_object(bucket, "a/b.bin")
    try:
        assert response.read() == payload
    finally:
        response.close()
        response.release_conn()
    assert [o.object_name for o in client.list_objects(bucket, recursive=True)] == ["a/b.bin"]
    assert bucket in {b.name for b in client.list_buckets()}


def test_up_twice_is_idempotent(stack_settings: Settings) -> None:
    before = stack_status(stack_settings)
    again = start_stack(stack_settings)
    assert again.healthy
    for name in ("s3", "kafka"):
        assert again[name].pid == before[name].pid


def test_cli_status_exit_codes(stack_settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    up = runner.invoke(stack, ["status"], env=_env(stack_settings))
    assert up.exit_code == 0, up.output
    assert "healthy" in up.output

    as_json = runner.invoke(stack, ["status", "--json"], env=_env(stack_settings))
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["healthy"] is True

    idle = local_stack_settings(tmp_path / "idle")
    down = runner.invoke(stack, ["status"], env=_env(idle))
    assert down.exit_code == 1, down.output
    assert "stopped" in down.output


# --------------------------------------------------------------------------------------------
# Private stacks of their own


def test_cli_up_failure_exits_non_zero_and_points_at_the_log(tmp_path: Path) -> None:
    settings = local_stack_settings(tmp_path / "broken", broker_storage="memory")
    env = {**_env(settings), "SIGHTLINE_S3__SECRET_KEY": "short"}  # the gateway refuses < 8 characters
    result = CliRunner().invoke(stack, ["up", "--timeout", "10"], env=env)
    log = settings.stack.home / "logs" / "s3.log"
    assert result.exit_code == 1, result.output
    assert str(log) in result.stderr
    assert "MINIO_ROOT_PASSWORD" in result.stderr  # the log's tail is shown
    assert not (settings.stack.home / "run" / "s3.pid").exists()
    assert not stack_status(settings)["s3"].running


def test_down_ignores_stale_pid_files(stack_settings: Settings, tmp_path: Path) -> None:
    settings = local_stack_settings(tmp_path / "stale", broker_storage="memory")
    paths = StackPaths.from_settings(settings)
    paths.run.mkdir(parents=True)
    finished = subprocess.Popen(["true"])
    finished.wait()
    paths.pid_file("s3").write_text(f"{finished.pid}\n")  # a process that is gone
    paths.pid_file("kafka").write_text(f"{os.getpid()}\n")  # a live process that is not the broker

    status = stack_status(settings)
    assert not status["s3"].running and not status["kafka"].running
    assert "stale PID file" in status["kafka"].detail

    stop_stack(settings)
    assert _alive(os.getpid())
    assert not paths.pid_file("s3").exists()
    assert not paths.pid_file("kafka").exists()
    stop_stack(settings)  # idempotent

    # The right binary is not enough: another stack's live gateway and broker (the session's),
    # named by hand-written PID files or by records of processes started at another time.
    session = stack_status(stack_settings)
    gateway, broker = session["s3"].pid, session["kafka"].pid
    assert gateway is not None and broker is not None
    paths.pid_file("s3").write_text(f"{gateway}\n")
    paths.pid_file("kafka").write_text(f"{broker}\n")
    forged = StackPaths.from_settings(stack_settings).record_file("kafka").read_text()
    paths.record_file("kafka").write_text(forged.replace('"start_ticks": ', '"start_ticks": 1'))
    status = stack_status(settings)
    assert not status["s3"].running and not status["kafka"].running
    stop_stack(settings)
    assert _alive(gateway) and _alive(broker)
    assert stack_status(stack_settings).healthy


async def test_broker_data_survives_restart(tmp_path: Path) -> None:
    settings = local_stack_settings(tmp_path / "persist", broker_storage="s3")
    paths = StackPaths.from_settings(settings)
    topic, group, partitions, count = "persisted", "persist-group", 2, 200
    try:
        first = start_stack(settings)
        assert first.healthy, first.to_json()
        await _create_topic(settings, topic, partitions)
        await _produce(settings, topic, count, partitions)

        consumer = _consumer(settings, group)
        await consumer.start()
        try:
            consumer.subscribe([topic])
            seen = 0
            deadline = time.monotonic() + 20
            while seen < 30 and time.monotonic() < deadline:
                seen += sum(len(r) for r in (await consumer.getmany(timeout_ms=500, max_records=10)).values())
            assert seen >= 30
            wanted = {TopicPartition(topic, 0): 17, TopicPartition(topic, 1): 11}
            await consumer.commit(wanted)
        finally:
            await consumer.stop()

        pids = [first[name].pid for name in ("s3", "kafka")]
        stopped = stop_stack(settings)
        assert [stopped[name].state for name in ("s3", "kafka")] == ["stopped", "stopped"]
        assert not stopped.healthy
        for pid in pids:
            assert pid is not None and not _alive(pid)
        assert not list(paths.run.glob("*.pid"))

        # Stale PID files must be cleaned by `up`, and never acted upon.
        paths.pid_file("s3").write_text(f"{os.getpid()}\n")
        paths.pid_file("kafka").write_text(f"{pids[1]}\n")
        second = start_stack(settings)
        assert second.healthy, second.to_json()
        assert _alive(os.getpid())
        assert second["s3"].pid != os.getpid()

        checker = _consumer(settings, group)
        await checker.start()
        try:
            committed = {tp: await checker.committed(tp) for tp in wanted}
        finally:
            await checker.stop()
        assert committed == wanted

        values = await _read_all(settings, topic, partitions, count)
        assert sorted(values) == sorted(f"value-{i}".encode() for i in range(count))
    finally:
        final = stop_stack(settings)
    assert not final.healthy
    assert all(not final[name].running for name in ("s3", "kafka"))


async def test_default_broker_keeps_every_acknowledged_record_from_concurrent_producers(tmp_path: Path) -> None:
    # Six stages append their statuses to the same partition at once. The default broker storage must
    # keep every acknowledged record; the gateway-backed storage does not (see StackSettings).
    settings = local_stack_settings(tmp_path / "defaults")
    assert settings.stack.broker_storage == StackSettings().broker_storage == "memory"
    start_stack(settings)
    try:
        topic = f"concurrent-{uuid.uuid4().hex[:8]}"
        await _create_topic(settings, topic, 1)
        sent = await _produce_concurrently(settings, topic, producers=6, count=150)
        received = await _read_all(settings, topic, 1, len(sent))
        assert len(received) == len(sent) and set(received) == sent
    finally:
        stop_stack(settings)
