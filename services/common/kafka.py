"""Kafka clients built from settings, and topic creation from the topic registry."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from services.common.contracts import Envelope, encode, message_headers, message_key, topic_for
from services.common.settings import KafkaSettings, WorkerSettings

log = logging.getLogger(__name__)


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """TLS for the SSL protocols: the brokers verified against ssl_cafile (else the system's CAs), and the client
    certificate presented when one is configured (mutual TLS, e.g. a Strimzi KafkaUser with tls authentication)."""
    if kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=kafka.ssl_cafile, certfile=kafka.ssl_certfile, keyfile=kafka.ssl_keyfile
    )
    return context


def connection_kwargs(kafka: KafkaSettings, role: str) -> dict[str, Any]:
    """Arguments every aiokafka client needs; only these differ between local and production."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": f"{kafka.client_id}-{role}",
        "request_timeout_ms": kafka.request_timeout_ms,
        "security_protocol": kafka.security_protocol,
    }
    if (context := ssl_context(kafka)) is not None:
        kwargs["ssl_context"] = context
    if kafka.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism or "PLAIN"
        kwargs["sasl_plain_username"] = kafka.sasl_username
        kwargs["sasl_plain_password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    return kwargs


def physical_topic(kafka: KafkaSettings, topic: str) -> str:
    """The broker-side name of a registered topic."""
    return f"{kafka.topic_prefix}{topic}"


def physical_group(kafka: KafkaSettings, group_id: str) -> str:
    """The broker-side name of a consumer group: prefixed like the topics, so environments sharing a cluster
    neither share groups (and rebalance each other) nor mix their lag in alerts and dashboards."""
    return f"{kafka.topic_prefix}{group_id}"


def logical_topic(kafka: KafkaSettings, topic: str) -> str:
    """The registered name of a broker-side topic."""
    return topic.removeprefix(kafka.topic_prefix) if kafka.topic_prefix else topic


def create_producer(kafka: KafkaSettings, role: str = "producer") -> AIOKafkaProducer:
    # acks=all: an output counts as produced only once the broker has it durably, which is what
    # lets the worker commit the input afterwards. Idempotence stays off: the local broker lacks it,
    # and downstream deduplication by event id makes it unnecessary.
    return AIOKafkaProducer(
        **connection_kwargs(kafka, role),
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        compression_type=None,
        # Dead letters carry the original payload base64-encoded; their topics allow 4 MiB records.
        max_request_size=5 * 1024 * 1024,
    )


def create_consumer(kafka: KafkaSettings, worker: WorkerSettings, group_id: str, role: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **connection_kwargs(kafka, role),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=worker.auto_offset_reset,
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        max_poll_interval_ms=kafka.max_poll_interval_ms,
        max_poll_records=worker.poll_max_records,
    )


async def publish_events(kafka: KafkaSettings, events: Sequence[Envelope], role: str) -> None:
    """Publish events to their registered topics, each acknowledged before the next (tools, not stages)."""
    producer = create_producer(kafka, role)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                physical_topic(kafka, topic_for(event)),
                encode(event),
                key=message_key(event),
                headers=message_headers(event),
            )
    finally:
        await producer.stop()


async def ensure_topics(
    kafka: KafkaSettings, topics: Iterable[tuple[str, int] | tuple[str, int, dict[str, str]]]
) -> list[str]:
    """Create missing topics (name, partitions[, topic configs]); returns the names that were created."""
    admin = AIOKafkaAdminClient(**connection_kwargs(kafka, "admin"))
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=spec[0],
                num_partitions=spec[1],
                replication_factor=kafka.replication_factor,
                topic_configs=spec[2] if len(spec) > 2 else {},
            )
            for spec in topics
            if spec[0] not in existing
        ]
        for topic in wanted:
            try:
                await admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    if created:
        log.info("created topics", extra={"topics": created})
    return created
