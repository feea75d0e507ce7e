# ruff: noqa: RUF001  (Chinese text uses full-width punctuation)
"""Synthetic interview generator: scenario, motion, rendering and CLI checks that need no ffmpeg or TTS."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from services.samples import SCHEMA_VERSION, GroundTruth, SampleSpec, build_scenario
from services.samples.audio import iter_pcm_blocks
from services.samples.bank import BANK, EN_FILLERS, ZH_FILLERS
from services.samples.cli import DurationType, sample
from services.samples.ground_truth import json_schema
from services.samples.motion import LEAVE_SHIFT, MotionModel
from services.samples.mux import _matrix
from services.samples.render_video import SceneRenderer, frame_times
from services.samples.script import EVENT_MARGIN_S, ClipRequest, Placement, parse_answer, words_of
from services.samples.spec import Lang


def _truth(**kw: object) -> GroundTruth:
    return build_scenario(SampleSpec.model_validate({"duration": 60, **kw})).truth


# -- scenario --------------------------------------------------------------------------------------------------


def test_parse_answer_splits_fillers_pauses_and_phrases() -> None:
    pieces = parse_answer("<um> |0.9| So, I led it. <you know>, it worked.", "en")
    assert [(p.kind, p.text, p.seconds) for p in pieces] == [
        ("filler", "um", 0.0),
        ("pause", "", 0.9),
        ("speech", "So,", 0.0),
        ("speech", "I led it.", 0.0),
        ("filler", "you know", 0.0),
        ("speech", "it worked.", 0.0),
    ]
    assert [p.boundary for p in pieces if p.kind == "speech"] == ["comma", "sentence", "sentence"]
    zh = parse_answer("<嗯> |1.0| 我负责后端，<然后> 延迟降低了。", "zh")
    assert [p.text for p in zh if p.kind != "pause"] == ["嗯", "我负责后端，", "然后", "延迟降低了。"]
    assert words_of("延迟降低了。", "zh") == ["延", "迟", "降", "低", "了"]


def test_bank_uses_the_required_fillers_and_strong_answers_are_longer() -> None:
    langs: list[tuple[Lang, tuple[str, ...]]] = [("en", EN_FILLERS), ("zh", ZH_FILLERS)]
    for lang, fillers in langs:
        used = {p.text for it in BANK for c in ("strong", "weak") for p in parse_answer(it.answer(lang, c), lang)
                if p.kind == "filler"}  # fmt: skip
        assert set(fillers) <= used, f"{lang}: fillers never used: {set(fillers) - used}"

        def n_words(text: str, lang: Lang = lang) -> int:
            return sum(len(words_of(p.text, lang)) for p in parse_answer(text, lang))

        for it in BANK:
            assert n_words(it.answer(lang, "strong")) > 1.8 * n_words(it.answer(lang, "weak")), (it.bank_id, lang)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_scenario_is_deterministic_per_seed_and_differs_across_seeds(lang: str) -> None:
    a = _truth(seed=5, lang=lang).to_json()
    assert a == _truth(seed=5, lang=lang).to_json()
    assert a != _truth(seed=6, lang=lang).to_json()


@pytest.mark.parametrize(
    "kw",
    [
        {"seed": 1, "duration": 12},
        {"seed": 2, "duration": 60, "candidate": "weak"},
        {"seed": 3, "duration": 300, "lang": "zh", "interviewer_voice": False},
        {"seed": 4, "duration": 29.5, "variant": "neutral"},
    ],
)
def test_timeline_is_consistent(kw: dict[str, object]) -> None:
    truth = _truth(**kw)
    dur = truth.duration_s
    assert truth.questions, "at least one question"
    prev_end = 0.0
    for q in truth.questions:
        assert prev_end <= q.start < q.end <= dur
        assert q.question.start == q.start and q.answer.end == q.end
        assert q.question.end <= q.answer.start
        segs = q.question.segments + q.answer.segments
        for s in segs:
            assert q.start <= s.start < s.end <= q.end
            for w in s.words:
                assert s.start - 1e-3 <= w.start < w.end <= s.end + 1e-3
        for a, b in itertools.pairwise(segs):
            assert a.end <= b.start + 1e-9, "segments of one question never overlap"
        for p in q.answer.pauses:
            assert q.answer.start <= p.start < p.end <= q.answer.end and p.end - p.start >= 0.25
        prev_end = q.end
    ids = [q.question_id for q in truth.questions]
    assert len(ids) == len(set(ids))
    # Only the last answer may be cut by the end of the recording.
    assert not any(q.answer.truncated for q in truth.questions[:-1])
    _check_events(truth)


def _check_events(truth: GroundTruth) -> None:
    ranges = truth.events.all_ranges()
    for kind, start, end in ranges:
        assert EVENT_MARGIN_S - 1e-6 <= start < end <= truth.duration_s - EVENT_MARGIN_S + 1e-6, kind
    for (_, _, end), (_, start, _) in itertools.pairwise(ranges):
        assert start - end >= EVENT_MARGIN_S - 1e-3, "events are separated"
    ev = truth.events
    for n in ev.nods + ev.shakes:
        assert n.end - n.start == pytest.approx(n.count * n.period_s, abs=2e-3)
        assert 0.4 <= n.period_s <= 0.8
    for la in ev.look_aways:
        assert 1.0 <= la.end - la.start <= 3.0
    for nf in ev.no_face:
        assert nf.leave_start < nf.start < nf.end < nf.back_end
    for sf in ev.second_face:
        assert sf.enter_start < sf.start < sf.end < sf.exit_end


def test_short_recording_gets_every_event_kind_and_fillers() -> None:
    truth = _truth(seed=0, duration=12)
    ev = truth.events
    assert (len(ev.nods), len(ev.shakes), len(ev.look_aways), len(ev.no_face), len(ev.second_face)) == (1, 1, 1, 1, 1)
    weak = _truth(seed=0, duration=60, candidate="weak")
    assert sum(len(q.answer.fillers) for q in weak.questions) >= 3
    assert any(p.scripted for q in weak.questions for p in q.answer.pauses)
    assert all("[" in q.answer.text_marked for q in weak.questions if q.answer.fillers)


def test_two_hour_scenario_repeats_questions_and_scales_events() -> None:
    truth = _truth(seed=9, duration=7200)
    assert len(truth.questions) > 2 * len(BANK)
    assert max(q.repeat for q in truth.questions) >= 2
    assert truth.questions[-1].end <= 7200
    assert len(truth.events.nods) >= 100 and len(truth.events.no_face) >= 5
    _check_events(truth)


def test_strong_candidate_speaks_faster_with_fewer_fillers() -> None:
    strong = _truth(seed=3, duration=600)
    weak = _truth(seed=3, duration=600, candidate="weak")

    def per_min(t: GroundTruth) -> float:
        return sum(len(q.answer.fillers) for q in t.questions) / sum(q.answer.duration for q in t.questions) * 60

    assert per_min(weak) > 2 * per_min(strong)
    assert np.mean([q.answer.speech_rate for q in strong.questions]) > np.mean(
        [q.answer.speech_rate for q in weak.questions]
    )


def test_truth_json_round_trips_and_has_a_schema() -> None:
    truth = _truth(seed=1, duration=20)
    data = json.loads(truth.to_json())
    assert data["schema_name"] == "sightline.sample-truth" and data["schema_version"] == SCHEMA_VERSION
    assert GroundTruth.model_validate(data) == truth
    schema = json.loads(json_schema())
    assert {"questions", "events", "speech", "spec"} <= set(schema["properties"])


# -- motion and pixels ------------------------------------------------------------------------------------------


def test_nod_moves_the_head_down_count_times() -> None:
    truth = _truth(seed=2, duration=60)
    motion = MotionModel(truth)
    for nod in truth.events.nods:
        ts = np.arange(nod.start, nod.end, 0.01)
        dy = np.array([motion.pose(t).dy for t in ts])
        above = dy > np.median([motion.pose(nod.start - 0.2).dy]) + nod.amplitude / 2
        runs = int(np.sum(above[1:] & ~above[:-1]) + above[0])
        assert runs == nod.count


def test_no_face_moves_the_candidate_out_and_back() -> None:
    truth = _truth(seed=2, duration=60)
    motion = MotionModel(truth)
    nf = truth.events.no_face[0]
    mid = motion.pose((nf.start + nf.end) / 2)
    assert abs(mid.dx) == pytest.approx(LEAVE_SHIFT, abs=0.02)
    assert (mid.dx < 0) == (nf.side == "left")
    assert abs(motion.pose(nf.back_end + 0.05).dx) < 0.02


def _faces(gray: np.ndarray, min_size: int) -> list[tuple[int, int, int, int]]:
    """Haar frontal faces, with overlapping hits on one head (hair, chin) merged into one."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    found = cascade.detectMultiScale(gray, 1.1, 5, minSize=(min_size, min_size))
    boxes = [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]
    kept: list[tuple[int, int, int, int]] = []
    for b in sorted(boxes, key=lambda b: -b[2]):
        if not any(_overlap(b, k) > 0.1 for k in kept):
            kept.append(b)
    return kept


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection area over the smaller box's area."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h) / min(a[2] * a[3], b[2] * b[3])


def test_rendered_frames_match_face_events() -> None:
    spec = SampleSpec(seed=4, duration=12, width=320, height=240)
    truth = build_scenario(spec).truth
    r = SceneRenderer(spec, truth)
    ev = truth.events

    def n_faces(t: float) -> int:
        return len(_faces(cv2.cvtColor(r.render(t), cv2.COLOR_BGR2GRAY), 24))

    busy = truth.events.all_ranges()
    calm = [t for t in np.arange(0.2, 11.8, 0.5) if all(not (s - 0.3 <= t <= e + 0.3) for _, s, e in busy)]
    assert calm and all(n_faces(t) == 1 for t in calm)
    nf, sf = ev.no_face[0], ev.second_face[0]
    assert all(n_faces(t) == 0 for t in np.linspace(nf.start, nf.end, 4, endpoint=False))
    assert all(r.face_box(t) is None for t in np.linspace(nf.start, nf.end, 4, endpoint=False))
    assert all(n_faces(t) == 2 for t in np.linspace(sf.start, sf.end, 4, endpoint=False))


def _smile_hits(variant: str) -> int:
    """Raw smile-cascade hits in the lower half of the detected face, over a few frames."""
    spec = SampleSpec.model_validate({"seed": 1, "duration": 12, "variant": variant})
    r = SceneRenderer(spec, build_scenario(spec).truth)
    smile = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_smile.xml")  # type: ignore[attr-defined]
    hits = 0
    for t in (0.1, 0.3, 0.5):
        gray = cv2.cvtColor(r.render(t), cv2.COLOR_BGR2GRAY)
        faces = _faces(gray, 60)
        assert len(faces) == 1
        x, y, w, h = faces[0]
        mouth = gray[y + h // 2 : y + h, x : x + w]
        hits += len(smile.detectMultiScale(mouth, 1.05, 0, minSize=(w // 5, h // 10)))
    return hits


def test_smile_detector_tells_smiling_from_neutral() -> None:
    smiling, neutral = _smile_hits("smiling"), _smile_hits("neutral")
    assert smiling > 3 * neutral, (smiling, neutral)


def test_rotation_stores_frames_rotated_for_the_player() -> None:
    base = SampleSpec(seed=1, duration=12, width=320, height=240)
    rot = SampleSpec(seed=1, duration=12, width=320, height=240, rotation=90)
    assert rot.display_size == (240, 320)
    r = SceneRenderer(rot, build_scenario(rot).truth)
    upright = r.render(0.3)
    stored = r.stored(upright)
    assert stored.shape[:2] == (240, 320)
    # A player turns the stored frame 90 degrees clockwise and gets the upright picture back.
    assert np.array_equal(cv2.rotate(stored, cv2.ROTATE_90_CLOCKWISE), upright)
    assert base.display_size == (320, 240)
    assert _matrix(90, 320, 240)[:8] == b"\x00\x00\x00\x00\x00\x01\x00\x00"


def test_frame_times_constant_and_variable() -> None:
    cfr = frame_times(SampleSpec(duration=12, fps=10))
    assert len(cfr) == 120 and cfr[1] == pytest.approx(0.1)
    vfr = frame_times(SampleSpec(seed=3, duration=12, fps=15, vfr=True))
    d = np.diff(vfr)
    assert vfr[0] == 0 and vfr[-1] < 12 and np.all(d > 0)
    assert len(vfr) < 180 and d.max() > 1.8 / 15 and d.std() > 0.01
    assert vfr == frame_times(SampleSpec(seed=3, duration=12, fps=15, vfr=True))


def test_audio_blocks_place_clips_exactly() -> None:
    sr = 8000
    clip = ClipRequest("en", "candidate", "x", 1.0)
    tone = np.full(sr // 2, 0.5, np.float32)
    placements = [Placement(1.0, clip), Placement(9.8, clip)]
    pcm = b"".join(iter_pcm_blocks(placements, lambda c: tone, 12.0, sr, seed=1, block_s=2.0))
    a = np.frombuffer(pcm, "<i2").astype(np.float32) / 32767
    assert len(a) == 12 * sr
    assert abs(a[int(1.2 * sr)] - 0.5) < 0.02 and abs(a[int(10.0 * sr)] - 0.5) < 0.02  # across a block edge
    assert np.sqrt(np.mean(a[: sr // 2] ** 2)) < 0.003  # room tone only
    assert pcm == b"".join(iter_pcm_blocks(placements, lambda c: tone, 12.0, sr, seed=1, block_s=2.0))


# -- CLI -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("12", 12.0), ("90s", 90.0), ("1.5m", 90.0), ("2h", 7200.0),
                                               ("1h30m", 5400.0), ("1:30:00", 5400.0)])  # fmt: skip
def test_duration_option_parses_units(text: str, seconds: float) -> None:
    assert DurationType().convert(text, None, None) == seconds


def test_cli_dry_run_schema_and_validation() -> None:
    runner = CliRunner()
    res = runner.invoke(sample, ["--dry-run", "--duration", "30", "--seed", "2"])
    assert res.exit_code == 0, res.output
    assert "q01" in res.output and "nods" in res.output
    res = runner.invoke(sample, ["--print-schema"])
    assert res.exit_code == 0 and json.loads(res.output)["title"] == "GroundTruth"
    res = runner.invoke(sample, ["--width", "641", "--dry-run"])
    assert res.exit_code == 2 and "even" in res.output
    res = runner.invoke(sample, ["--no-audio", "--no-video", "--dry-run"])
    assert res.exit_code == 2


def test_zh_without_its_venv_fails_with_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTLINE_ZH_TTS_VENV", str(tmp_path / "missing-venv"))
    res = CliRunner().invoke(sample, ["--lang", "zh", "--duration", "10", "--out", str(tmp_path)])
    assert res.exit_code == 1
    assert "bash scripts/install-zh-tts.sh" in res.output
    assert not list(tmp_path.glob("*.mp4")), "nothing is written (no silent fallback to another voice)"


def test_seeded_rng_order_is_stable() -> None:
    # The scenario relies on random.Random being reproducible across runs and platforms.
    assert random.Random(7).random() == pytest.approx(0.32383276483316237)
