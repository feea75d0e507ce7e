-- Erasure receipts and retention (docs/operations.md, "Erasure, retention and encryption").
--
-- One receipt per erasure (a candidate's request or the retention schedule), written by whoever performed it
-- (the sink, or `sightline erase --direct`): what was removed where and when, in counts, without the personal
-- data itself. The candidate and interviews appear only as digests (sha256 of "<tenant>/<id>"), so
-- the HR system can check that a given candidate was erased, but the table names nobody.
-- Receipts are the audit trail: they are kept six years and never erased themselves.

CREATE TABLE IF NOT EXISTS {db}.erasure_receipts
(
    erasure_id        UUID,
    tenant_id         LowCardinality(String),
    reason            LowCardinality(String),
    scope             LowCardinality(String),
    subject_digest    String,
    interview_digests Array(String),
    requested_by      String,
    requested_at      DateTime64(3, 'UTC'),
    completed_at      DateTime64(3, 'UTC'),
    objects_deleted   Map(String, UInt32),
    keys_destroyed    UInt32,
    rows_deleted      Map(String, UInt64),
    topics            Map(String, String),
    written_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(requested_at)
ORDER BY (tenant_id, erasure_id)
TTL toDateTime(requested_at) + INTERVAL 2190 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Retention: the erasure schedule removes an interview, with every row about it in every table, when its
-- jurisdiction's retention ends (at most 365 days, services/erasure/settings.py). TTLs are the backstop:
-- interview-derived tables already expire 365 days (the behaviour timeline 180) after the interview (0002);
-- statuses, kept 400 days by 0001, now expire at the same ceiling. Review decisions and hiring outcomes keep
-- their 730 days from when they were recorded (an outcome arrives up to a year after the hire); the schedule
-- erases them with their interview all the same.
ALTER TABLE {db}.stage_status MODIFY TTL toDateTime(occurred_at) + INTERVAL 365 DAY;
