"""Settings of the speech stage: the `SIGHTLINE_SPEECH__*` variables (a group of services.common.settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

# This module is imported by services.common.settings, so it must not import from services.common.
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SpeechSettings(BaseModel):
    """Configuration of the speech stage."""

    engine: Literal["faster-whisper", "openai-whisper"] = Field(
        "faster-whisper",
        description="Transcription engine: faster-whisper (CTranslate2, default) or openai-whisper (the "
        "reference implementation, several times slower).",
    )
    model_cache_dir: Path = Field(
        _PROJECT_ROOT / ".local" / "models",
        description="Writable directory where the Whisper weights shipped in packages are assembled once "
        "(CTranslate2 directory and the converted openai-whisper checkpoint). In containers, a writable volume.",
    )
    openai_checkpoint: Path | None = Field(
        None,
        description="openai-whisper checkpoint (.pt with dims and model_state_dict) to load instead of the one "
        "converted from the packaged weights.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where the engine runs; auto picks cuda when a GPU is visible, else cpu."
    )
    compute_type: str = Field(
        "auto",
        description="CTranslate2 compute type for faster-whisper; auto means int8 on CPU and float16 on GPU.",
    )
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Segments faster-whisper transcribes at the same time, each on its own model worker (the "
        "weights are shared); 0 means one per core the process may use on CPU (a container's CPU quota counts) "
        "and one on a GPU. The worker loop's max_in_flight "
        "must allow as many messages at once.",
    )
    cpu_threads: int = Field(
        0,
        ge=0,
        le=256,
        description="Threads of each faster-whisper worker on CPU; 0 shares the cores among the workers (one "
        "each by default: decoding gains little from a second thread and wastes CPU waiting for it).",
    )
    beam_size: int = Field(
        5, ge=1, le=10, description="Beam width of decoding; 1 is greedy (faster, more recognition errors)."
    )
    batch_size: int = Field(
        0,
        ge=0,
        le=64,
        description="Chunks of one segment (up to 30 s of speech each, cut at silences) that faster-whisper "
        "encodes and decodes together; 0 picks 8 on a GPU and 1 on CPU, where a batch costs as much as its "
        "chunks one by one and each chunk alone is encoded only as long as its own speech.",
    )
    window_step_s: int = Field(
        5,
        ge=0,
        le=30,
        description="Whisper windows are encoded only as long as the speech they hold, rounded up to this many "
        "seconds and at least 10 s, instead of padded to 30 s (the encoder's cost grows with the window); 0 "
        "pads every window to 30 s as Whisper was trained. faster-whisper only.",
    )
    vad: bool = Field(
        True,
        description="Skip non-speech with faster-whisper's built-in Silero VAD and cut speech into chunks at its "
        "silences; false decodes the audio window after window.",
    )
    languages: list[str] = Field(
        default_factory=lambda: ["en", "zh"],
        description="Languages the detector may choose from (Whisper codes); the most likely one of these wins. "
        "Empty allows every language Whisper knows.",
    )
    filler_prompt: bool = Field(
        True,
        description="Prime the recogniser with a prompt full of filler words so it writes them (um, uh, 嗯, 呃) "
        "instead of dropping them.",
    )
    competency_models_dir: Path = Field(
        _PROJECT_ROOT / "competency-models",
        description="Directory of competency-model YAML files; a job's model is found by its id and version.",
    )
    pause_min_s: float = Field(0.5, gt=0, le=10, description="Shortest silence between words counted as a pause.")
