"""Settings of the vision stage: the `SIGHTLINE_VISION__*` variables (a group of services.common.settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.vision.aggregate import GazeRule

#: The key-frame intervals the truth tests measure gestures, look-aways and face episodes at (seconds).
KEYFRAME_INTERVALS_S = (0.0, 0.5, 1.0)


class VisionSettings(BaseModel):
    """Configuration of the vision stage."""

    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where the models run; `auto` takes CUDA when available, else the CPU."
    )
    half_precision: bool = Field(True, description="Run the models in float16 on CUDA (ignored on the CPU).")
    threads: int = Field(0, ge=0, le=256, description="Torch CPU threads; 0 keeps torch's default (all cores).")
    batch_size: int = Field(
        64, ge=1, le=4096, description="Most frames in one forward pass, gathered across chunks and interviews."
    )
    max_batch_wait_ms: float = Field(
        5.0,
        ge=0,
        le=10_000,
        description="How long the first queued frame waits for others before a pass starts. A chunk's frames are "
        "queued together, and on a CPU passes of over 16 frames gain nothing, so waiting longer only idles a core; "
        "on a GPU fed by many interviews, tens of ms fill larger batches.",
    )
    max_in_flight: int = Field(
        8,
        ge=1,
        le=1024,
        description="Chunks the stage handles at once. A chunk reaches the batch threads in up to three rounds "
        "(key frames, disputed stretches, windows), so twice the usual number keeps them busy (each chunk holds "
        "its decoded frames, about 40 MB at 640x480). Replaces SIGHTLINE_WORKER__MAX_IN_FLIGHT for vision.",
    )
    sample_stride: int = Field(
        1, ge=1, le=100, description="Analyse every N-th frame of a chunk (1: all sampled frames)."
    )
    detect_max_side: int = Field(
        256, ge=64, le=4096, description="Frames are scaled down to this longer side for face detection."
    )
    detect_retry_max_side: int = Field(
        512,
        ge=0,
        le=4096,
        description="A whole-frame search that finds no face at detect_max_side, or only a face under 32 pixels "
        "there, searches again at this longer side (0: never). A face under about a fifth of the frame's height is "
        "a few dozen pixels at detect_max_side, where a real face (turned, low contrast, greyscale) scores below the "
        "proposal floor, and a second person behind a small face is not seen at all; only those frames pay for the "
        "second pass.",
    )
    keyframe_interval_s: float = Field(
        0.5,
        ge=0,
        le=max(KEYFRAME_INTERVALS_S),
        description="Whole frames are searched for faces this far apart (and every frame between two whose face "
        "count differs); the frames between are searched only around the face. 0 searches every frame whole. "
        "Every face is measured in a window either way. Up to 1 s (the intervals the truth tests cover: 0, 0.5, "
        "1); a second face shown for less than the interval can be missed.",
    )
    min_face_score: float = Field(0.6, ge=0, le=1, description="Detector score below which a face is ignored.")
    face_proposal_score: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Score from which a whole-frame search proposes the candidate's face; it counts once its window, "
        "at the detector's working size, scores it min_face_score (a small face scores low in a frame scaled to "
        "detect_max_side).",
    )
    second_face_min_size: float = Field(
        0.3, ge=0, le=1, description="A second face counts when its height is at least this share of the candidate's."
    )
    emotion_inference: bool = Field(
        True,
        description="Classify expressions where the interview permits it; false never does (reason `disabled`).",
    )
    face_mesh: bool = Field(
        True,
        description="Run the 468-point face mesh on the candidate's face (blinks, mouth opening, brow and smile "
        "landmark measures); false leaves those measures out.",
    )
    follow_lost_faces: bool = Field(
        True,
        description="Follow the candidate's face with the face mesh in frames where the face detector loses it (a "
        "head turned far aside, small or backlit), so a look-away is not reported as the candidate absent; false "
        "reports every frame without a detected face as absent.",
    )
    blink_closed_ratio: float = Field(
        0.7,
        gt=0,
        lt=1,
        description="Eye openness (eye aspect ratio), as a share of the candidate's open level over the chunk, "
        "below which the eyes count as closed.",
    )
    eye_contact_max_yaw_deg: float = Field(
        GazeRule.max_yaw_deg,
        ge=0,
        le=90,
        description="Largest head yaw against the line of sight (camera to face) that still counts as facing the "
        "camera.",
    )
    eye_contact_max_pitch_deg: float = Field(
        GazeRule.max_pitch_deg,
        ge=0,
        le=90,
        description="Largest pitch, against the line of sight, away from the candidate's level over the chunk that "
        "still faces the camera.",
    )
    look_away_min_s: float = Field(
        GazeRule.min_look_away_s, ge=0, le=60, description="Shortest gaze-away period that is an episode."
    )
    nod_min_swing: float = Field(
        0.06, ge=0, le=1, description="Smallest up-down swing of the nose tip, in face heights, counted as a nod."
    )
    shake_min_swing: float = Field(
        0.12, ge=0, le=1, description="Smallest left-right swing of the nose tip, in face widths, in a head shake."
    )
    gesture_max_half_period_s: float = Field(
        0.5, ge=0.05, le=5, description="Longest time between the turning points of one nod or shake."
    )
    smile_threshold: float = Field(
        0.5, ge=0, le=1, description="Smile intensity (smoothed) above which a frame counts as smiling."
    )
    frown_threshold: float = Field(
        0.5, ge=0, le=1, description="Combined anger, disgust and sadness probability above which a frame frowns."
    )
    expression_smoothing: int = Field(
        3, ge=1, le=31, description="Frames in the moving average applied to expression probabilities."
    )
    blur_threshold: float = Field(
        40.0, ge=0, le=1e6, description="Variance of the Laplacian below which a frame counts as blurry."
    )
    dark_threshold: float = Field(0.15, ge=0, le=1, description="Mean luma below which a frame counts as dark.")
    posture_drift_scale: float = Field(
        0.5, ge=0.01, le=10, description="Face-box drift (face widths, RMS) at which posture stability reaches 0."
    )
    # --- hands and upper body (services/vision/body.py) ---
    body_sample_hz: float = Field(
        1.0,
        ge=0,
        le=30,
        description="Frames per second of media analysed for hands and the upper body (palm, hand and pose models, "
        "about 50 ms of one core per frame); 0 switches that analysis off.",
    )
