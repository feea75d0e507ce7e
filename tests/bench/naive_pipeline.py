"""The naive baseline of the end-to-end benchmark: one process, one interview after the other, every frame
at full resolution through the same vision models one frame at a time, openai-whisper (the reference
engine) on each whole recording, no streaming, no batching, no overlap of video and audio work.

`python -m tests.bench.naive_pipeline MEDIA...` prints one JSON line: wall seconds, frames, words, peak RSS.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from services.common.settings import Settings
from services.speech.engines import OpenAIWhisperEngine
from services.vision.analyzer import FrameAnalyzer, FrameJob


def _audio(path: Path) -> npt.NDArray[np.float32]:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", "16000", "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def main(paths: list[str]) -> int:
    settings = Settings()
    started = time.perf_counter()
    vision = FrameAnalyzer(settings.vision)
    whisper = OpenAIWhisperEngine(settings.speech.model_copy(update={"engine": "openai-whisper"}))
    loaded = time.perf_counter()
    frames = words = 0
    for path in paths:
        capture = cv2.VideoCapture(path)
        while True:
            ok, image = capture.read()
            if not ok:
                break
            vision.analyse([FrameJob(image=np.asarray(image, dtype=np.uint8), expression=True)])
            frames += 1
        capture.release()
        words += len(whisper.transcribe(_audio(Path(path))).words)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "wall_s": round(done - loaded, 1),
                "model_load_s": round(loaded - started, 1),
                "frames": frames,
                "words": words,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
