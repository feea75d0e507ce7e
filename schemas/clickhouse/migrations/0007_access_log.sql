-- Who read what: one row per read of a profile, report, status, dead letter or query, and per refusal.
-- Append-only: plain MergeTree (no replacing engine, no deduplication across rows), and nothing in Sightline
-- updates or deletes it; on a server, tenant roles get SELECT on it only (services/identity/row_policies.py).
-- Kept two years (the EU AI Act's logs of a high-risk system, NYC audit evidence), then dropped by TTL.
-- tenant_id is the tenant whose data was asked for (the identity's own, or another's when refused).

CREATE TABLE IF NOT EXISTS {db}.access_log
(
    event_id     UUID,
    at           DateTime64(3, 'UTC'),
    actor        String,
    role         LowCardinality(String),
    actor_tenant LowCardinality(String),
    tenant_id    LowCardinality(String),
    action       LowCardinality(String),
    interview_id String DEFAULT '',
    subject      String DEFAULT '',
    outcome      LowCardinality(String),
    reason       String DEFAULT '',
    origin       String DEFAULT ''
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (tenant_id, at, event_id)
TTL toDateTime(at) + INTERVAL 730 DAY;
