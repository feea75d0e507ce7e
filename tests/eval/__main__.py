"""`make eval`: accuracy per behaviour, JSON under eval-results/ and printed tables.

Vision over the generated grid (tests/eval/vision_grid.py: frame rate, face size, framing, what the candidate
does), at every key-frame interval (0: every frame searched whole), with the look-aways' floors; vision over the
variety of recordings (tests/eval/variety_grid.py: resolution, aspect, frame rate, framing, lighting); the face
mesh's blinks and mouth opening (tests/eval/landmarks.py); whether the iris model could add to eye contact
(tests/eval/iris.py); speech on recordings of real people (tests/speech_clips.py) with the shipped model next to
the reference engine; speech on generated answers with other voices, noise and a second voice in the room
(tests/eval/speech_variety.py); hands and posture on real photographs turned and pasted by a script
(tests/eval/body_grid.py). `python -m tests.eval vision`, `variety`, `landmarks`, `iris`, `speech`,
`speech_variety` or `body` runs one part. Ground truth is the generator's script or the
clips' reference transcripts, never the pipeline's own output.
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
from tests.eval import body_grid, iris, speech_variety, variety_grid, vision_grid
from tests.eval import landmarks as landmark_grid
from tests.speech_clips import TARGETS, transcribe_sets

OUT_DIR = Path("eval-results")
PARTS = ("vision", "variety", "landmarks", "iris", "speech", "speech_variety", "body")
#: Columns of the variety table (the JSON keeps every score).
VARIETY_COLUMNS = (
    "case", "face_present", "nod_error", "shake_error", "eye_contact_frontal", "look_away_recall",
    "look_away_precision", "face_absent_recall", "face_absent_precision", "second_face_recall",
    "second_face_precision",
)  # fmt: skip


def vision() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sightline-eval-") as tmp:
        rows = vision_grid.run(Path(tmp))
    return {
        "rows": rows,
        "by_face_px": vision_grid.summarise(rows, "face_px"),
        "by_face_x": vision_grid.summarise(rows, "face_x"),
        "by_fps": vision_grid.summarise(rows, "fps"),
        "look_away_floors": vision_grid.floors(rows),
    }


def variety() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sightline-eval-") as tmp:
        return {"rows": variety_grid.run(Path(tmp))}


def iris_part() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sightline-eval-") as tmp:
        return {"rows": iris.run(Path(tmp))}


def speech_variety_part() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sightline-eval-") as tmp:
        return {"rows": speech_variety.run(Path(tmp))}


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
        results[part] = {
            "vision": vision,
            "variety": variety,
            "landmarks": landmarks,
            "iris": iris_part,
            "speech": speech,
            "speech_variety": speech_variety_part,
            "body": body_grid.run,
        }[part]()
        results[part]["wall_s"] = round(time.perf_counter() - started, 1)
        (OUT_DIR / f"eval-{part}.json").write_text(json.dumps(results[part], indent=2, default=str) + "\n")
    if "vision" in results:
        for key in ("by_face_px", "by_face_x", "by_fps", "look_away_floors"):
            console.print(_table(f"vision accuracy {key.replace('_', ' ')}", results["vision"][key]))
    if "variety" in results:
        rows = [{k: r.get(k) for k in VARIETY_COLUMNS} for r in results["variety"]["rows"]]
        console.print(_table("vision over the variety of recordings", rows))
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
    if "body" in results:
        console.print(_table("hands and posture on real photographs", results["body"]["summary"]))
    if "speech_variety" in results:
        console.print(
            _table("speech on generated answers: voices, noise, a second voice", results["speech_variety"]["rows"])
        )
    if "iris" in results:
        console.print(
            _table("iris against head pose: eye contact on frontal and look-away frames", results["iris"]["rows"])
        )
    if "landmarks" in results:
        console.print(_table("face mesh: blinks and mouth opening", results["landmarks"]["summary"]))
        console.print(_table("face mesh per recording", results["landmarks"]["rows"]))
    console.print(f"written to {OUT_DIR}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
