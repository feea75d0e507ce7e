-- Human review decisions and hiring outcomes (review-decision, candidate-outcome), written by the sink,
-- and the views that answer "who still needs a person to look at their profile" and "what became of them".
--
-- Identity and replays, as in 0002: ReplacingMergeTree(written_at) keyed by the row's identity. A decision
-- is identified by its decision_id (the HR system re-sending a decision replaces it); an outcome by its
-- event id (each outcome event is a new state of what is known, the latest recorded_at is current).
-- Neither event carries the interview's start, so they are partitioned by their own time (a replay keeps
-- that time, so replacement stays within one partition).
--
-- Retention: decisions and outcomes are the evidence that a person oversaw every label and the input of
-- calibration, kept 730 days from the decision or the recording of the outcome (longer than the 365 days
-- of the profiles they refer to, so an audit still sees who decided what).

-- One row per decision; the history stays. The current decision of an interview is its latest decided_at.
CREATE TABLE IF NOT EXISTS {db}.review_decisions
(
    tenant_id       String,
    interview_id    String,
    profile_version UInt32,
    decision_id     String,
    reviewer_id     String,
    reviewer_role   LowCardinality(String),
    action          LowCardinality(String),
    final_label     LowCardinality(String),
    suggested_label LowCardinality(String),
    reason_codes    Array(String),
    note            String,
    decided_at      DateTime64(3, 'UTC'),
    producer        LowCardinality(String),
    event_id        UUID,
    published_at    DateTime64(3, 'UTC'),
    event_json      String CODEC(ZSTD(3)),
    written_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(decided_at)
ORDER BY (tenant_id, interview_id, decision_id)
TTL toDateTime(decided_at) + INTERVAL 730 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per outcome event; ratings are a Nested column (ARRAY JOIN rating for one row per rating).
CREATE TABLE IF NOT EXISTS {db}.candidate_outcomes
(
    tenant_id     String,
    interview_id  String,
    candidate_ref String,
    job_id        String,
    stage         LowCardinality(String),
    hired_at      Nullable(DateTime64(3, 'UTC')),
    tenure_days   Nullable(UInt32),
    rating Nested
    (
        measure   LowCardinality(String),
        value     Float64,
        scale_min Float64,
        scale_max Float64,
        at_months Nullable(UInt16),
        rated_at  DateTime64(3, 'UTC')
    ),
    recorded_at   DateTime64(3, 'UTC'),
    event_id      UUID,
    published_at  DateTime64(3, 'UTC'),
    event_json    String CODEC(ZSTD(3)),
    written_at    DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX job_idx job_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (tenant_id, interview_id, event_id)
TTL toDateTime(recorded_at) + INTERVAL 730 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- The current decision of each interview: the latest decided_at (decision_id breaks a tie).
CREATE VIEW IF NOT EXISTS {db}.current_review_decisions AS
SELECT *
FROM {db}.review_decisions FINAL
ORDER BY decided_at DESC, decision_id DESC
LIMIT 1 BY tenant_id, interview_id;

-- The current outcome of each interview: the latest recorded_at.
CREATE VIEW IF NOT EXISTS {db}.current_candidate_outcomes AS
SELECT *
FROM {db}.candidate_outcomes FINAL
ORDER BY recorded_at DESC, event_id DESC
LIMIT 1 BY tenant_id, interview_id;

-- Review state of each interview's current profile: reviewed, awaiting_review (no decision yet) or
-- rescored_after_review (a newer profile version than the one the current decision was made on), with
-- the reason it waits.
CREATE VIEW IF NOT EXISTS {db}.review_state AS
SELECT
    p.tenant_id                AS tenant_id,
    p.interview_id             AS interview_id,
    p.job_id                   AS job_id,
    p.candidate_ref            AS candidate_ref,
    p.profile_version          AS profile_version,
    p.label                    AS label,
    p.overall                  AS overall,
    p.produced_at              AS produced_at,
    p.scoring_model_version    AS scoring_model_version,
    p.competency_model_version AS competency_model_version,
    d.decision_id              AS decision_id,
    d.profile_version          AS reviewed_version,
    d.action                   AS action,
    d.final_label              AS final_label,
    d.reviewer_id              AS reviewer_id,
    d.decided_at               AS decided_at,
    multiIf(
        d.decision_id = '', 'awaiting_review',
        d.profile_version < p.profile_version, 'rescored_after_review',
        'reviewed'
    )                          AS review_state,
    multiIf(
        d.decision_id = '', 'not reviewed yet',
        d.profile_version < p.profile_version,
        concat('re-scored after review: version ', toString(p.profile_version), ' replaces reviewed version ',
               toString(d.profile_version), ' (', d.action, ' as ', d.final_label, ')'),
        ''
    )                          AS awaiting_reason
FROM {db}.latest_profiles AS p
LEFT JOIN {db}.current_review_decisions AS d ON d.tenant_id = p.tenant_id AND d.interview_id = p.interview_id;

-- Every current decision with the profile version it was made on (the profile current at decision time):
-- the job, the model versions that scored it, the suggested label and when the profile was produced.
CREATE VIEW IF NOT EXISTS {db}.reviewed_profiles AS
SELECT
    d.tenant_id                AS tenant_id,
    d.interview_id             AS interview_id,
    d.decision_id              AS decision_id,
    d.profile_version          AS profile_version,
    d.action                   AS action,
    d.suggested_label          AS suggested_label,
    d.final_label              AS final_label,
    d.reason_codes             AS reason_codes,
    d.reviewer_id              AS reviewer_id,
    d.decided_at               AS decided_at,
    p.job_id                   AS job_id,
    p.candidate_ref            AS candidate_ref,
    p.overall                  AS overall,
    p.produced_at              AS produced_at,
    p.scoring_model_version    AS scoring_model_version,
    p.competency_model_id      AS competency_model_id,
    p.competency_model_version AS competency_model_version
FROM {db}.current_review_decisions AS d
INNER JOIN (SELECT * FROM {db}.profiles FINAL) AS p
    ON p.tenant_id = d.tenant_id AND p.interview_id = d.interview_id AND p.profile_version = d.profile_version;
