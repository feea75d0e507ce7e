"""Accuracy of the speech stage's transcription on recordings of real people reading (tests/speech_clips.py).

The engine is loaded as the stage loads it (`load_engine` with the default settings: faster-whisper on the
shipped whisper-base, beam 5, VAD, filler prompt) and each clip is read as the stage reads a segment. About
a minute of audio: the module takes seconds once the model is loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.speech.engines import SAMPLE_RATE, Transcription, load_engine
from services.speech.settings import SpeechSettings
from tests.speech_clips import TARGETS, ClipSet, ClipsMissing, clip_sets

#: The cards are named one by one, without a sentence around them: not held to the read-speech target, but
#: measured (0.095: "clubs" heard as "clothes" and "close") and kept from getting much worse.
CARDS_BOUND = 0.25


@pytest.fixture(scope="module")
def heard() -> dict[str, tuple[ClipSet, list[Transcription]]]:
    engine = load_engine(SpeechSettings())
    return {
        name: (clips, [engine.transcribe(clip.audio()) for clip in clips.clips]) for name, clips in clip_sets().items()
    }


def _report(capsys: pytest.CaptureFixture[str], name: str, score: dict[str, object]) -> None:
    with capsys.disabled():
        print(f"\n{name}: error rate {score['rate']} ({score['errors']} of {score['units']}), {score['per_clip']}")


@pytest.mark.parametrize("name", ["jfk", "librivox"])
def test_real_english_read_speech_is_transcribed_within_ten_percent_word_error_rate(
    heard: dict[str, tuple[ClipSet, list[Transcription]]], name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    clips, transcriptions = heard[name]
    assert all(t.language == "en" and t.language_probability > 0.9 for t in transcriptions)
    score = clips.score([t.text for t in transcriptions])
    _report(capsys, name, score)
    assert score["units"] == {"jfk": 22, "librivox": 71}[name]  # every reference word counted
    assert isinstance(score["rate"], float) and score["rate"] <= TARGETS[name] == 0.10, score


def test_cards_named_one_by_one_are_measured_separately(
    heard: dict[str, tuple[ClipSet, list[Transcription]]], capsys: pytest.CaptureFixture[str]
) -> None:
    clips, transcriptions = heard["cards"]
    assert "cards" not in TARGETS
    score = clips.score([t.text for t in transcriptions])
    _report(capsys, "cards", score)
    assert score["units"] == 21
    assert isinstance(score["rate"], float) and score["rate"] <= CARDS_BOUND, score


def test_real_mandarin_read_speech_is_transcribed_within_fifteen_percent_character_error_rate(
    heard: dict[str, tuple[ClipSet, list[Transcription]]], capsys: pytest.CaptureFixture[str]
) -> None:
    clips, transcriptions = heard["aishell"]
    assert all(t.language == "zh" and t.language_probability > 0.9 for t in transcriptions)
    score = clips.score([t.text for t in transcriptions])
    _report(capsys, "aishell", score)
    assert score["units"] == 26
    assert isinstance(score["rate"], float) and score["rate"] <= TARGETS["aishell"] == 0.15, score
    # the engine's prompt asks for Simplified characters: the normaliser is a safety net, not the fix
    assert not set("".join(t.text for t in transcriptions)) & set("現幾滯況線雖於調"), transcriptions
    # words come with times inside the clip
    for clip, heard_clip in zip(clips.clips, transcriptions, strict=True):
        duration = len(clip.audio()) / SAMPLE_RATE
        assert heard_clip.words and all(0 <= w.start_s <= w.end_s <= duration + 0.1 for w in heard_clip.words)


def test_a_missing_clip_names_the_install_step(tmp_path: Path) -> None:
    with pytest.raises(ClipsMissing, match="pocketsphinx-testdata"):
        clip_sets(sphinx_dir=tmp_path)
    with pytest.raises(ClipsMissing, match=r"jfk\.wav.*make setup"):
        clip_sets(clips_dir=tmp_path)
