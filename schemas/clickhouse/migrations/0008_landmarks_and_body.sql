-- The face mesh's and the hand and pose models' measures per vision chunk, so analysts can query blinks,
-- mouth and brows, hands and posture without reading event_json.
--
-- Landmark columns are NULL where the mesh did not run or did not support the chunk (the face too small in the
-- picture): not measured, never zero. The expression-like ones (brows, mouth width, corner lift) are also NULL
-- where emotion inference was not performed. Body columns count the chunk's samples (frames sampled at the
-- vision stage's body_sample_hz); their means are NULL when no sample measured them.

ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS landmarks_supported Nullable(Bool);
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS landmark_frames_measured UInt32 DEFAULT 0;
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS landmark_measured_s Float64 DEFAULT 0;
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS blink_count Nullable(UInt32);
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS eyes_closed_s Nullable(Float64);
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS eye_openness_mean Nullable(Float64);
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS mouth_opening_mean Nullable(Float64);
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS brow_height_mean Nullable(Float64);
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS mouth_width_mean Nullable(Float64);
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS mouth_corner_lift_mean Nullable(Float64);
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS body_samples UInt32 DEFAULT 0;
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS hand_samples UInt32 DEFAULT 0;
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS hand_face_touch_samples UInt32 DEFAULT 0;
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS upper_body_samples UInt32 DEFAULT 0;
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS shoulder_tilt_mean_deg Nullable(Float64);
ALTER TABLE {db}.vision_chunks ADD COLUMN IF NOT EXISTS head_height_mean Nullable(Float64);
