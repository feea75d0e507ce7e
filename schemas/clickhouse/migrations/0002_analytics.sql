-- The analyst's tables, written by the sink (services/sink), and the views over them.
--
-- Identity and replays: every table is a ReplacingMergeTree whose ORDER BY is the row's
-- deterministic identity (tenant, interview, then the unit: segment, chunk, second, profile
-- version, dimension) and whose version column is `written_at`. A replayed event rewrites the same
-- key and, after a merge or with FINAL, replaces its row. Insert deduplication tokens
-- (non_replicated_deduplication_window) drop a batch re-sent after a crash or a lost acknowledgement.
--
-- Partitioning: by month of the interview start (`interview_started_at`, carried by every event of an
-- interview). All rows of one interview share a partition, so replacement always works (RMT only
-- replaces within a partition), month-scoped queries prune partitions, and retention drops whole parts.
--
-- Ordering: tenant first (every query is per tenant and the tenant's rows stay together), then the
-- interview, then the unit. Queries by job use the bloom-filter skip indexes on job_id.
--
-- Retention (TTL, from the interview start): candidate-level data 365 days, the per-second behaviour
-- timeline 180 days (the most granular behavioural data, kept the shortest). Change it with a new
-- migration: ALTER TABLE {db}.<table> MODIFY TTL toDateTime(interview_started_at) + INTERVAL N DAY.
--
-- `event_json` keeps the whole event (ZSTD-compressed) so fields added to a contract later can be
-- read with JSONExtract before they get a column of their own.

CREATE TABLE IF NOT EXISTS {db}.interviews
(
    tenant_id                LowCardinality(String),
    interview_id             String,
    candidate_ref            String,
    job_id                   String,
    job_title                String,
    competency_model_id      LowCardinality(String),
    competency_model_version LowCardinality(String),
    locale                   LowCardinality(String),
    jurisdiction             LowCardinality(String),
    policy_version           LowCardinality(String),
    consent_scopes           Array(LowCardinality(String)),
    permitted_analyses       Array(LowCardinality(String)),
    interview_started_at     DateTime64(3, 'UTC'),
    duration_s               Float64,
    has_video                Bool,
    has_audio                Bool,
    media_kinds              Array(LowCardinality(String)),
    media_flags              Array(LowCardinality(String)),
    question_count           UInt16,
    pressure_question_count  UInt16,
    source_event_id          UUID,
    event_id                 UUID,
    ingested_at              DateTime64(3, 'UTC'),
    event_json               String CODEC(ZSTD(3)),
    written_at               DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX job_idx job_id TYPE bloom_filter GRANULARITY 4,
    INDEX candidate_idx candidate_ref TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(interview_started_at)
ORDER BY (tenant_id, interview_id)
TTL toDateTime(interview_started_at) + INTERVAL 365 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per answered audio segment (normally one per question). Competency scores are a Nested
-- column (ARRAY JOIN competency for one row per score); their evidence quotes are JSON.
CREATE TABLE IF NOT EXISTS {db}.answers
(
    tenant_id            LowCardinality(String),
    interview_id         String,
    interview_started_at DateTime64(3, 'UTC'),
    candidate_ref        String,
    job_id               String,
    segment_index        UInt32,
    total_segments       UInt32,
    question_id          String,
    question_text        String,
    pressure             Bool,
    start_s              Float64,
    end_s                Float64,
    language             LowCardinality(String),
    transcribed          Bool,
    transcript           String CODEC(ZSTD(3)),
    word_count           UInt32,
    duration_s           Float64,
    wpm                  Float64,
    cpm                  Float64,
    pause_count          UInt32,
    pause_mean_s         Nullable(Float64),
    pause_longest_s      Float64,
    pause_ratio          Float64,
    filler_count         UInt32,
    filler_rate          Float64,
    time_to_first_word_s Nullable(Float64),
    pitch_variation      Nullable(Float64),
    energy_variation     Nullable(Float64),
    competency Nested
    (
        id                  String,
        score               Float64,
        keyword_coverage    Float64,
        semantic_similarity Float64,
        structure           Float64,
        specificity         Float64,
        hedging             Float64,
        evidence_json       String
    ),
    model_versions       Map(LowCardinality(String), String),
    event_id             UUID,
    produced_at          DateTime64(3, 'UTC'),
    event_json           String CODEC(ZSTD(3)),
    written_at           DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX job_idx job_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(interview_started_at)
ORDER BY (tenant_id, interview_id, segment_index)
TTL toDateTime(interview_started_at) + INTERVAL 365 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per vision chunk: the chunk summary (episode totals in seconds, mean head pose).
CREATE TABLE IF NOT EXISTS {db}.vision_chunks
(
    tenant_id                   LowCardinality(String),
    interview_id                String,
    interview_started_at        DateTime64(3, 'UTC'),
    candidate_ref               String,
    job_id                      String,
    chunk_index                 UInt32,
    total_chunks                UInt32,
    start_s                     Float64,
    end_s                       Float64,
    frames_analysed             UInt32,
    face_present_ratio          Float64,
    head_yaw_deg                Nullable(Float64),
    head_pitch_deg              Nullable(Float64),
    head_roll_deg               Nullable(Float64),
    eye_contact_ratio           Nullable(Float64),
    nod_count                   UInt32,
    shake_count                 UInt32,
    look_away_s                 Float64,
    look_away_episodes          UInt32,
    smile_s                     Float64,
    face_absent_s               Float64,
    second_face_s               Float64,
    expression_distribution     Map(LowCardinality(String), Float64),
    emotion_inference_performed Bool,
    emotion_inference_reason    LowCardinality(String),
    motion_energy               Float64,
    posture_stability           Nullable(Float64),
    look_away_count             UInt32,
    nod_times_s                 Array(Float64),
    shake_times_s               Array(Float64),
    smile_intensity_mean        Nullable(Float64),
    frown_s                     Nullable(Float64),
    expression_volatility       Nullable(Float64),
    brightness_mean             Nullable(Float64),
    sharpness_mean              Nullable(Float64),
    blurry_ratio                Nullable(Float64),
    dark_ratio                  Nullable(Float64),
    timeline_uri                String,
    model_versions              Map(LowCardinality(String), String),
    event_id                    UUID,
    produced_at                 DateTime64(3, 'UTC'),
    event_json                  String CODEC(ZSTD(3)),
    written_at                  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(interview_started_at)
ORDER BY (tenant_id, interview_id, chunk_index)
TTL toDateTime(interview_started_at) + INTERVAL 365 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per media second per chunk (a second split across two chunks has a row from each, so
-- replays are deterministic; weight by `frames` when aggregating). The largest table: narrow types.
CREATE TABLE IF NOT EXISTS {db}.behaviour_timeline
(
    tenant_id            LowCardinality(String),
    interview_id         String,
    interview_started_at DateTime64(3, 'UTC'),
    second               UInt32,
    chunk_index          UInt32,
    frames               UInt32,
    face_present_ratio   Float32,
    faces_max            UInt16,
    head_yaw_deg         Nullable(Float32),
    head_pitch_deg       Nullable(Float32),
    head_roll_deg        Nullable(Float32),
    eye_contact_ratio    Nullable(Float32),
    smile_intensity      Nullable(Float32),
    dominant_expression  LowCardinality(String),
    motion_energy        Float32,
    event_id             UUID,
    written_at           DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(interview_started_at)
ORDER BY (tenant_id, interview_id, second, chunk_index)
TTL toDateTime(interview_started_at) + INTERVAL 180 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per profile version of an interview (a re-analysis adds version 2, ...).
CREATE TABLE IF NOT EXISTS {db}.profiles
(
    tenant_id                LowCardinality(String),
    interview_id             String,
    interview_started_at     DateTime64(3, 'UTC'),
    candidate_ref            String,
    job_id                   String,
    job_title                String,
    competency_model_id      LowCardinality(String),
    competency_model_version LowCardinality(String),
    locale                   LowCardinality(String),
    jurisdiction             LowCardinality(String),
    profile_id               UUID,
    profile_version          UInt32,
    overall                  Nullable(Float64),
    label                    LowCardinality(String),
    needs_human_review       Bool,
    data_quality             Array(LowCardinality(String)),
    vision_chunks_received   UInt32,
    vision_chunks_expected   UInt32,
    speech_segments_received UInt32,
    speech_segments_expected UInt32,
    report_uri               String,
    scoring_model_version    LowCardinality(String),
    feature_versions         Map(LowCardinality(String), String),
    event_id                 UUID,
    produced_at              DateTime64(3, 'UTC'),
    event_json               String CODEC(ZSTD(3)),
    written_at               DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX job_idx job_id TYPE bloom_filter GRANULARITY 4,
    INDEX candidate_idx candidate_ref TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(interview_started_at)
ORDER BY (tenant_id, interview_id, profile_version)
TTL toDateTime(interview_started_at) + INTERVAL 365 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per dimension of a profile version, with the job denormalised for distributions per job.
CREATE TABLE IF NOT EXISTS {db}.profile_dimensions
(
    tenant_id                LowCardinality(String),
    interview_id             String,
    interview_started_at     DateTime64(3, 'UTC'),
    job_id                   String,
    competency_model_id      LowCardinality(String),
    competency_model_version LowCardinality(String),
    profile_id               UUID,
    profile_version          UInt32,
    dimension                LowCardinality(String),
    kind                     LowCardinality(String),
    score                    Float64,
    confidence               Float64,
    evidence_count           UInt16,
    evidence_json            String CODEC(ZSTD(3)),
    produced_at              DateTime64(3, 'UTC'),
    written_at               DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX job_idx job_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(interview_started_at)
ORDER BY (tenant_id, interview_id, profile_version, dimension)
TTL toDateTime(interview_started_at) + INTERVAL 365 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Rows the sink could not insert (a value ClickHouse refused), kept with the reason instead of
-- blocking the batch they arrived in.
CREATE TABLE IF NOT EXISTS {db}.sink_rejected_rows
(
    target_table String,
    row_key      String,
    reason       String,
    row_json     String CODEC(ZSTD(3)),
    rejected_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(rejected_at)
PARTITION BY toYYYYMM(rejected_at)
ORDER BY (target_table, row_key)
TTL toDateTime(rejected_at) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- What the status events also say: the producing service, events emitted, extra details.
ALTER TABLE {db}.stage_status ADD COLUMN IF NOT EXISTS producer LowCardinality(String) DEFAULT '';
ALTER TABLE {db}.stage_status ADD COLUMN IF NOT EXISTS emitted Map(LowCardinality(String), UInt32);
ALTER TABLE {db}.stage_status ADD COLUMN IF NOT EXISTS detail_json String DEFAULT '';

-- The current profile of each interview: its highest version.
CREATE VIEW IF NOT EXISTS {db}.latest_profiles AS
SELECT *
FROM {db}.profiles FINAL
ORDER BY profile_version DESC
LIMIT 1 BY tenant_id, interview_id;

-- The latest profile of each candidate for each job (a candidate may interview again).
CREATE VIEW IF NOT EXISTS {db}.candidate_latest_profiles AS
SELECT *
FROM {db}.latest_profiles
ORDER BY interview_started_at DESC, profile_version DESC
LIMIT 1 BY tenant_id, candidate_ref, job_id;

-- Where each interview is now: the latest state of the pipeline stages (the sink's own statuses
-- are left out) and an overall status. A profile wins over a failure (fusion builds partial profiles
-- with data-quality flags when a part failed); the profile counts whether or not fusion reports statuses.
CREATE VIEW IF NOT EXISTS {db}.interview_status AS
SELECT
    s.tenant_id     AS tenant_id,
    s.interview_id  AS interview_id,
    s.last_stage    AS last_stage,
    s.last_state    AS last_state,
    s.updated_at    AS updated_at,
    s.failed_stages AS failed_stages,
    multiIf(
        s.fused OR (s.tenant_id, s.interview_id) IN (SELECT tenant_id, interview_id FROM {db}.profiles), 'profiled',
        length(s.failed_stages) > 0, 'failed',
        s.analysing, 'analysing',
        s.extracting, 'extracting',
        'ingesting'
    )               AS status
FROM
(
    SELECT
        p.tenant_id                                              AS tenant_id,
        p.interview_id                                           AS interview_id,
        argMax(p.stage, p.updated_at)                            AS last_stage,
        argMax(p.state, p.updated_at)                            AS last_state,
        max(p.updated_at)                                        AS updated_at,
        groupArrayIf(p.stage, p.state = 'failed')                AS failed_stages,
        countIf(p.stage = 'fusion' AND p.state = 'completed') > 0 AS fused,
        countIf(p.stage IN ('vision', 'speech')) > 0             AS analysing,
        countIf(p.stage = 'frames') > 0                          AS extracting
    FROM {db}.interview_progress AS p
    WHERE p.stage != 'sink'
    GROUP BY p.tenant_id, p.interview_id
) AS s;

-- Per job: interviews ingested, analysed (any vision or speech result), profiled, and the labels of
-- their current profiles.
CREATE VIEW IF NOT EXISTS {db}.job_funnel AS
SELECT
    i.tenant_id                              AS tenant_id,
    i.job_id                                 AS job_id,
    any(i.job_title)                         AS job_title,
    count()                                  AS ingested,
    countIf(a.interview_id != '')            AS analysed,
    countIf(p.interview_id != '')            AS profiled,
    countIf(p.label = 'recommend')           AS recommend,
    countIf(p.label = 'pending')             AS pending,
    countIf(p.label = 'reject')              AS reject
FROM (SELECT tenant_id, interview_id, job_id, job_title FROM {db}.interviews FINAL) AS i
LEFT JOIN
(
    SELECT DISTINCT tenant_id, interview_id FROM {db}.answers
    UNION DISTINCT
    SELECT DISTINCT tenant_id, interview_id FROM {db}.vision_chunks
) AS a ON a.tenant_id = i.tenant_id AND a.interview_id = i.interview_id
LEFT JOIN (SELECT tenant_id, interview_id, label FROM {db}.latest_profiles) AS p
    ON p.tenant_id = i.tenant_id AND p.interview_id = i.interview_id
GROUP BY i.tenant_id, i.job_id;

-- Score distribution per job, competency-model version and dimension, over current profiles.
CREATE VIEW IF NOT EXISTS {db}.score_distribution AS
SELECT
    d.tenant_id                                       AS tenant_id,
    d.job_id                                          AS job_id,
    d.competency_model_version                        AS competency_model_version,
    d.dimension                                       AS dimension,
    any(d.kind)                                       AS kind,
    count()                                           AS profiles,
    round(avg(d.score), 2)                            AS mean,
    round(stddevPop(d.score), 2)                      AS stddev,
    min(d.score)                                      AS min,
    arrayMap(q -> round(q, 2), quantilesExact(0.1, 0.25, 0.5, 0.75, 0.9)(d.score)) AS p10_p25_p50_p75_p90,
    max(d.score)                                      AS max
FROM {db}.profile_dimensions AS d FINAL
WHERE (d.tenant_id, d.interview_id, d.profile_version) IN
    (SELECT tenant_id, interview_id, profile_version FROM {db}.latest_profiles)
GROUP BY d.tenant_id, d.job_id, d.competency_model_version, d.dimension;
