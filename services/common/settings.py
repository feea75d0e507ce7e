"""Typed settings, read from the environment.

Every variable starts with ``SIGHTLINE_``; nested groups use ``__`` (for example
``SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS``). Defaults point at the local stack started by
``sightline stack up`` so a developer needs no configuration; production sets the
endpoints and credentials and nothing else changes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Each stage's group is defined beside the stage; these modules import nothing from services.common.
from services.console.settings import ConsoleSettings
from services.erasure.settings import RETENTION_CEILING_DAYS, RetentionSettings
from services.frames.settings import FramesSettings
from services.fusion.settings import FusionSettings
from services.identity.settings import IdentitySettings
from services.ingest.settings import IngestSettings
from services.sink.settings import SinkSettings
from services.speech.settings import SpeechSettings
from services.vision.settings import VisionSettings

#: Repository root when running from a checkout; the local stack keeps its data under it.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOME = PROJECT_ROOT / ".local"


class KafkaSettings(BaseModel):
    """Broker connection and consumer-group behaviour."""

    bootstrap_servers: str = Field("127.0.0.1:19092", description="Comma-separated host:port list.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism when a SASL protocol is used."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password.")
    ssl_cafile: str | None = Field(None, description="CA bundle for SSL protocols.")
    ssl_certfile: str | None = Field(
        None,
        description="Client certificate (PEM, chain allowed) presented to the brokers for mutual TLS with SSL "
        "protocols; needs ssl_keyfile.",
    )
    ssl_keyfile: str | None = Field(None, description="Private key (PEM) of ssl_certfile.")
    client_id: str = Field("sightline", description="Client id prefix reported to the broker.")
    topic_prefix: str = Field(
        "",
        description="Prepended to every topic name and consumer group, so several environments can share one "
        "cluster (e.g. `staging.`).",
    )
    session_timeout_ms: int = Field(
        6000,
        ge=1000,
        description="Group session timeout. Small locally: the local broker delays joins by half of it.",
    )
    heartbeat_interval_ms: int = Field(2000, ge=100, description="Consumer heartbeat interval.")
    max_poll_interval_ms: int = Field(
        300_000, ge=1000, description="Upper bound between polls before the group evicts a consumer."
    )
    request_timeout_ms: int = Field(40_000, ge=1000, description="Broker request timeout.")
    default_partitions: int = Field(6, ge=1, description="Partitions for topics created by `sightline topics create`.")
    replication_factor: int = Field(1, ge=1, description="Replication factor for created topics.")

    @model_validator(mode="after")
    def _client_certificate_has_its_key(self) -> Self:
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("ssl_certfile and ssl_keyfile go together (mutual TLS needs the certificate and its key)")
        return self


class S3Settings(BaseModel):
    """Object store (S3 / MinIO API) holding media, frame chunks, audio and timelines."""

    endpoint: str = Field("127.0.0.1:19000", description="host:port of the S3 API (no scheme).")
    credentials: Literal["keys", "environment"] = Field(
        "keys",
        description="`keys`: access_key and secret_key. `environment`: the pod's cloud identity: AWS_ACCESS_KEY_ID/"
        "AWS_SECRET_ACCESS_KEY when set, else a web identity token (IRSA: AWS_ROLE_ARN and "
        "AWS_WEB_IDENTITY_TOKEN_FILE) or the instance's role; keys are then not needed.",
    )
    access_key: str = Field("sightline", description="Access key id.")
    secret_key: SecretStr = Field(SecretStr("sightline-local-secret"), description="Secret key.")
    secure: bool = Field(False, description="Use HTTPS to reach the endpoint.")
    region: str = Field("us-east-1", description="Region name sent in signatures.")
    raw_bucket: str = Field("sightline-raw", description="Bucket for ingested interview media.")
    work_bucket: str = Field(
        "sightline-work", description="Bucket for frame chunks, audio segments, timelines and key frames."
    )
    report_bucket: str = Field("sightline-reports", description="Bucket for rendered reports.")
    part_size_mb: int = Field(16, ge=5, le=5120, description="Multipart part size; bounds memory used by one upload.")
    presign_expiry_s: int = Field(3600, ge=1, le=604_800, description="Lifetime of presigned URLs.")
    kek_ref: str | None = Field(
        None,
        description="Key-encryption key for media and per-frame data at rest (`file:PATH`, 64 hex characters; the "
        "local stack makes `.local/keys/kek`). Unset: objects are stored unencrypted.",
    )
    keys_bucket: str = Field(
        "sightline-keys", description="Bucket for per-interview data keys, stored only wrapped by the KEK."
    )
    ca_file: str | None = Field(
        None,
        description="CA bundle (PEM) verifying the endpoint's certificate with secure=true (default: the system's).",
    )
    lifecycle_days: int = Field(
        RETENTION_CEILING_DAYS,
        ge=0,
        le=RETENTION_CEILING_DAYS,
        description="Days after which the buckets' lifecycle rule deletes any object, the backstop of the retention "
        "schedule (never longer than the longest retention); 0: Sightline sets no rule (the operator manages the "
        "buckets' lifecycle).",
    )


class ClickHouseSettings(BaseModel):
    """Analytical store."""

    dsn: str = Field(
        f"chdb://{DEFAULT_HOME / 'chdb'}",
        description="`chdb:///abs/path` for the embedded engine, `http(s)://user:pw@host:port` for a server.",
    )
    database: str = Field("sightline", description="Database holding Sightline tables.")
    ca_file: str | None = Field(
        None,
        description="CA bundle (PEM) that verifies an https:// server's certificate, and the embedded database's "
        "owner endpoint when it serves HTTPS (default: the system's).",
    )
    owner_cert_file: str | None = Field(
        None,
        description="With the embedded chDB: certificate chain (PEM) the owner's endpoint serves HTTPS with (needs "
        "owner_key_file); unset: plain HTTP on the loopback address.",
    )
    owner_key_file: str | None = Field(None, description="Private key (PEM) of owner_cert_file.")
    insert_batch_rows: int = Field(5000, ge=1, description="Rows that trigger a batch insert.")
    insert_batch_seconds: float = Field(1.0, gt=0, description="Age of the oldest buffered row that triggers a flush.")
    max_attempts: int = Field(5, ge=1, description="Attempts for an insert failing with a transient error.")
    backup_url: str = Field(
        "",
        description=(
            "S3 folder URL, as the ClickHouse server reaches it, for `sightline db backup` (signed with the s3"
            " credentials); empty: bucket `sightline-backups` on the object store's endpoint."
        ),
    )
    cluster: str = Field(
        "",
        description=(
            "ClickHouse cluster the DDL runs ON CLUSTER (`{cluster}` for the server's macro); empty for one server"
            " or the embedded engine."
        ),
    )
    replicated: bool = Field(
        False, description="Tables use Replicated*MergeTree engines (ClickHouse Keeper); needs `cluster`."
    )
    sharded: bool = Field(
        False,
        description=(
            "Tables live as `<name>_local` on every shard behind Distributed tables of the usual names; needs"
            " `cluster`."
        ),
    )

    @model_validator(mode="after")
    def _owner_cert_and_key(self) -> ClickHouseSettings:
        if (self.owner_cert_file is None) != (self.owner_key_file is None):
            raise ValueError("clickhouse.owner_cert_file and clickhouse.owner_key_file go together")
        return self

    @model_validator(mode="after")
    def _topology_needs_cluster(self) -> ClickHouseSettings:
        if (self.replicated or self.sharded) and not self.cluster:
            raise ValueError("clickhouse.replicated and clickhouse.sharded need clickhouse.cluster")
        if self.cluster and self.dsn.startswith("chdb:"):
            raise ValueError("clickhouse.cluster needs a ClickHouse server; the embedded engine has no cluster")
        return self


class WorkerSettings(BaseModel):
    """Stream-processing loop shared by every stage."""

    max_in_flight: int = Field(
        4, ge=1, description="Messages processed concurrently per worker; partitions pause when reached."
    )
    max_attempts: int = Field(
        4, ge=1, description="Attempts for a retryable failure before the message is dead-lettered."
    )
    backoff_initial_s: float = Field(0.5, ge=0, description="First retry delay; doubles each attempt.")
    backoff_max_s: float = Field(30.0, ge=0, description="Cap on the retry delay.")
    poll_timeout_ms: int = Field(200, ge=1, description="Longest wait of one poll.")
    poll_max_records: int = Field(50, ge=1, description="Records fetched per poll.")
    commit_interval_s: float = Field(1.0, gt=0, description="How often finished offsets are committed.")
    drain_timeout_s: float = Field(
        25.0,
        ge=0,
        description="On shutdown or revocation, how long in-flight work may finish before it is handed back.",
    )
    shutdown_timeout_s: float = Field(
        10.0,
        gt=0,
        description="After the drain, how long the final commit, leaving the group and flushing the producer may "
        "wait for the broker; past it the worker exits and the broker delivers what was not committed again.",
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a new consumer group starts."
    )
    engine: Literal["auto", "loop", "faust"] = Field(
        "auto",
        description=(
            "Stream engine: `loop` (the shared aiokafka loop), `faust` (faust-streaming agent) or `auto`, "
            "each stage's own choice (fusion: faust; the rest: loop). Buffered stages (the sink) need `loop`."
        ),
    )


class ObservabilitySettings(BaseModel):
    """Health, metrics and logs."""

    http_host: str = Field("127.0.0.1", description="Address of the health and metrics server.")
    http_port: int = Field(0, ge=0, le=65535, description="Port of the health and metrics server; 0 picks a free one.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_format: Literal["json", "text"] = Field("json", description="Structured JSON logs or plain text.")


class StackSettings(BaseModel):
    """The local stack started by `sightline stack up` (development, tests and the demo only)."""

    home: Path = Field(DEFAULT_HOME, description="Directory holding the local stack's data, logs and PIDs.")
    kafka_port: int = Field(19092, ge=1, le=65535, description="Loopback port of the local broker.")
    s3_port: int = Field(19000, ge=1, le=65535, description="Loopback port of the local S3 gateway.")
    broker_storage: Literal["s3", "memory"] = Field(
        "memory",
        description="`memory` (safe) loses topics when the broker stops; `s3` keeps them in the local S3 gateway, "
        "which ignores conditional writes: acknowledged records are lost when several producers write one "
        "partition at once, and on a restart when a partition is written before it is read (docs/operations.md): "
        "experiments only.",
    )
    startup_timeout_s: float = Field(30.0, gt=0, description="How long `stack up` waits for readiness.")


class Settings(BaseSettings):
    """All of Sightline's configuration."""

    model_config = SettingsConfigDict(env_prefix="SIGHTLINE_", env_nested_delimiter="__", extra="ignore", frozen=True)

    environment: Literal["local", "test", "production"] = Field("local", description="Deployment flavour.")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    stack: StackSettings = Field(default_factory=StackSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    frames: FramesSettings = Field(default_factory=FramesSettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    fusion: FusionSettings = Field(default_factory=FusionSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process (read once; tests build their own `Settings(...)`)."""
    return Settings()


def iter_env_vars(model: type[BaseModel] = Settings, prefix: str = "SIGHTLINE_") -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting: feeds the README table and its test."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(iter_env_vars(annotation, f"{prefix}{name.upper()}__"))
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            shown = "(secret)"
        elif default is None:
            shown = ""
        else:
            shown = str(default).replace(str(PROJECT_ROOT), "<repo>")
        rows.append((f"{prefix}{name.upper()}", shown, field.description or ""))
    return rows


def settings_env(settings: BaseModel, prefix: str = "SIGHTLINE_") -> dict[str, str]:
    """The environment that makes another process read the same settings (for child stage processes)."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        key = f"{prefix}{name.upper()}"
        if isinstance(value, BaseModel):
            env.update(settings_env(value, f"{key}__"))
        elif value is None:
            continue
        elif isinstance(value, SecretStr):
            env[key] = value.get_secret_value()
        elif isinstance(value, bool):
            env[key] = "true" if value else "false"
        elif isinstance(value, dict | list | tuple):
            env[key] = json.dumps(value, default=str)
        else:
            env[key] = str(value)
    return env
