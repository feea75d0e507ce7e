-- Voluntary self-identification of candidates (candidate-demographics events), for the bias audit only.
--
-- Kept apart from every table scoring, fusion, reports and reviewers read: nothing joins it except the
-- audit (services/audit), and `sightline query` refuses it to every role but auditor (services/access.py).
-- One row per candidate of a tenant: the latest answer wins (version column `collected_at`), a replayed
-- event rewrites its own row. Erasing a candidate deletes their row here like everywhere else:
--   ALTER TABLE {db}.candidate_demographics DELETE WHERE tenant_id = '<tenant>' AND candidate_ref = '<ref>'
-- Retention follows the candidate-level data of 0002: 365 days after the answer.

CREATE TABLE IF NOT EXISTS {db}.candidate_demographics
(
    tenant_id       LowCardinality(String),
    candidate_ref   String,
    interview_id    String,
    sex             LowCardinality(String),
    race_ethnicity  LowCardinality(String),
    collected_at    DateTime64(3, 'UTC'),
    form_version    String,
    event_id        UUID,
    produced_at     DateTime64(3, 'UTC'),
    written_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(collected_at)
ORDER BY (tenant_id, candidate_ref)
TTL toDateTime(collected_at) + INTERVAL 365 DAY
SETTINGS non_replicated_deduplication_window = 1000;
