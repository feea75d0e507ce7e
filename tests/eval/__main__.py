"""`make eval`: accuracy per behaviour, JSON under eval-results/ and printed tables.

Vision over the generated grid (tests/eval/vision_grid.py: frame rate, face size, framing, what the candidate
does), at the default key-frame interval next to every frame searched whole; the face mesh's blinks and mouth
opening (tests/eval/landmarks.py); speech on recordings of real people (tests/speech_clips.py) with the shipped
model next to the reference engine. `python -m tests.eval vision`, `speech` or `landmarks` runs one part. Ground
truth is the generator's script or the clips' reference transcripts, never the pipeline's own output.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from services.common.console import make_console
from services.speech.engines import FasterWhisperEngine, OpenAIWhisperEngine
from services.speech.settings import SpeechSettings
from tests.eval import landmarks as landmark_grid
from tests.eval import vision_grid
from tests.speech_clips import TARGETS, transcribe_sets

OUT_DIR = Path("eval-results")
PARTS = ("vision", "speech", "landmarks")


def vision() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sightline-eval-") as tmp:
        rows = vision_grid.run(Path(tmp))
    return {
        "rows": rows,
        "by_face_px": vision_grid.summarise(rows, "face_px"),
        "by_face_x": vision_grid.summarise(rows, "face_x"),
        "by_fps": vision_grid.summarise(rows, "fps"),
    }


def landmarks() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sightline-eval-") as tmp:
        rows = landmark_grid.run(Path(tmp))
    return {"rows": rows, "summary": landmark_grid.summary(rows)}


def speech() -> dict[str, Any]:
    settings = SpeechSettings()
    return {
        "targets": TARGETS,
        "faster_whisper_beam5": transcribe_sets(FasterWhisperEngine(settings)),
        "openai_whisper_greedy (reference)": transcribe_sets(
            OpenAIWhisperEngine(settings.model_copy(update={"beam_size": 1}))
        ),
    }


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(*rows[0].keys(), title=title)
    for row in rows:
        table.add_row(*("n/a" if v is None else str(v) for v in row.values()))
    return table


def main(argv: list[str]) -> int:
    parts = argv or list(PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print(f"unknown eval parts {unknown}; known: {', '.join(PARTS)}", file=sys.stderr)
        return 2
    console = make_console()
    OUT_DIR.mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    for part in parts:
        started = time.perf_counter()
        results[part] = {"vision": vision, "speech": speech, "landmarks": landmarks}[part]()
        results[part]["wall_s"] = round(time.perf_counter() - started, 1)
        (OUT_DIR / f"eval-{part}.json").write_text(json.dumps(results[part], indent=2, default=str) + "\n")
    if "vision" in results:
        for key in ("by_face_px", "by_face_x", "by_fps"):
            console.print(_table(f"vision accuracy {key.replace('_', ' ')}", results["vision"][key]))
    if "speech" in results:
        rows = [
            {
                "model": model,
                "set": name,
                "language": r["language"],
                "error rate": r["rate"],
                "target": TARGETS.get(name),
            }
            for model, sets in results["speech"].items()
            if isinstance(sets, dict) and model != "targets"
            for name, r in sets.items()
            if isinstance(r, dict)
        ]
        console.print(_table("speech on real recordings (WER en, CER zh)", rows))
    if "landmarks" in results:
        console.print(_table("face mesh: blinks and mouth opening", results["landmarks"]["summary"]))
        console.print(_table("face mesh per recording", results["landmarks"]["rows"]))
    console.print(f"written to {OUT_DIR}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
