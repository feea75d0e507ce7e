-- Dead letters, written by the sink's dead-letter reader (services/sink/dead_letters.py) from every
-- sightline.dead-letter.<stage>.v1 topic: what `sightline dlq list|replay --from table` reads.
--
-- 0001 reserved the table; these columns make a row enough to replay its message exactly as the topic
-- would (key, headers and timestamp live in `letter_json`, the dead letter without its payload) and let
-- queries filter on the failure code and whether a retry may pass.
-- `payload_withheld`: the payload is not stored (payload_b64 = ''): dead letters of
-- sightline.candidate-demographics.v1 (self-identification, see docs/fairness.md). A replay from the table
-- reads such a payload from the dead-letter topic, while the topic keeps it.

ALTER TABLE {db}.dead_letters ADD COLUMN IF NOT EXISTS error_code LowCardinality(String) DEFAULT '';
ALTER TABLE {db}.dead_letters ADD COLUMN IF NOT EXISTS retryable Bool DEFAULT false;
ALTER TABLE {db}.dead_letters ADD COLUMN IF NOT EXISTS payload_withheld Bool DEFAULT false;
ALTER TABLE {db}.dead_letters ADD COLUMN IF NOT EXISTS letter_json String DEFAULT '' CODEC(ZSTD(3));
