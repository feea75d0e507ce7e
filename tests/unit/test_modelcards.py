"""Model cards stay in sync with the registries: one per model, generated tables current, written sections written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from services.modelcards import CARDS_DIR, PLACEHOLDER, check, generate, registered_models
from services.vision.litert_models import BODY_MODELS
from services.vision.registry import list_models


def test_every_registered_model_has_a_current_written_card() -> None:
    assert check() == []
    names = {m.name for m in registered_models()}
    speech = {"whisper-base", "multilingual-e5-small", "resemblyzer-ge2e"}
    lite = {m.name for m in BODY_MODELS}
    assert {e.name for e in list_models()} | {"head_pose", "face_mesh", *speech, *lite, "scoring"} == names
    index = (CARDS_DIR / "README.md").read_text(encoding="utf-8")
    assert all(f"]({name}.md)" in index for name in names)


def test_the_card_carries_the_version_string_profiles_carry() -> None:
    text = (CARDS_DIR / "expression.md").read_text(encoding="utf-8")
    expression = next(e for e in list_models() if e.name == "expression")
    assert f"`feature_versions.expression` = `{expression.version}`" in text
    assert re.search(r"\| Switched off in \| EU ", text)
    assert "| Switched off in | in no jurisdiction" in (CARDS_DIR / "face_detector.md").read_text(encoding="utf-8")


def test_check_fails_on_a_missing_stale_unwritten_or_orphan_card(tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    shutil.copytree(CARDS_DIR, cards)
    (cards / "whisper-base.md").unlink()
    stale = cards / "expression.md"
    stale.write_text(stale.read_text(encoding="utf-8").replace("pyemotion", "oldemotion"), encoding="utf-8")
    (cards / "retired_model.md").write_text("# Model card: retired_model\n", encoding="utf-8")
    problems = check(cards)
    assert "whisper-base.md: missing (run python -m services.modelcards generate)" in problems
    assert any(p.startswith("expression.md: generated block is stale") for p in problems)
    assert "retired_model.md: no registered model has this card" in problems

    written = generate(cards)  # the missing card comes back with its sections to write; the stale table is fixed
    assert {p.name for p in written} == {"whisper-base.md", "expression.md"}
    new = (cards / "whisper-base.md").read_text(encoding="utf-8")
    assert new.count(PLACEHOLDER) == 4
    problems = check(cards)
    assert not any(p.startswith("expression.md") for p in problems)
    assert "whisper-base.md: section 'Training data' is not written" in problems
    assert generate(cards) == []  # idempotent
