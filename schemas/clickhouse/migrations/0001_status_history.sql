-- Where every interview is: one row per stage-status event, and the dead letters behind failures.
-- ReplacingMergeTree keyed by the deterministic event id: a replayed event replaces its own row.
-- Partitioned by month (cheap TTL drops, scans limited to recent months); ordered by tenant and
-- interview because every query filters on them.

CREATE TABLE IF NOT EXISTS {db}.stage_status
(
    event_id       UUID,
    tenant_id      LowCardinality(String),
    interview_id   String,
    stage          LowCardinality(String),
    state          LowCardinality(String),
    attempt        UInt16,
    unit           String DEFAULT '',
    reason_code    LowCardinality(String) DEFAULT '',
    reason_message String DEFAULT '',
    occurred_at    DateTime64(3, 'UTC'),
    written_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, interview_id, stage, event_id)
TTL toDateTime(occurred_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    event_id      UUID,
    stage         LowCardinality(String),
    tenant_id     LowCardinality(String) DEFAULT '',
    interview_id  String DEFAULT '',
    source_topic  LowCardinality(String),
    source_partition UInt32,
    source_offset UInt64,
    error_type    LowCardinality(String),
    error_message String,
    attempts      UInt16,
    payload_b64   String CODEC(ZSTD(3)),
    occurred_at   DateTime64(3, 'UTC'),
    written_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (stage, source_topic, source_partition, source_offset)
TTL toDateTime(occurred_at) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- The latest state of each stage of each interview (what `sightline status` shows).
CREATE VIEW IF NOT EXISTS {db}.interview_progress AS
SELECT
    s.tenant_id                             AS tenant_id,
    s.interview_id                          AS interview_id,
    s.stage                                 AS stage,
    argMax(s.state, s.occurred_at)          AS state,
    argMax(s.unit, s.occurred_at)           AS unit,
    argMax(s.reason_code, s.occurred_at)    AS reason_code,
    argMax(s.reason_message, s.occurred_at) AS reason_message,
    max(s.occurred_at)                      AS updated_at,
    countIf(s.state = 'failed')             AS failures
FROM {db}.stage_status AS s FINAL
GROUP BY s.tenant_id, s.interview_id, s.stage;
