# ruff: noqa: RUF001  (Chinese text uses full-width punctuation)
"""Synthetic interviews as files: ffprobe metadata, pixels and audio against the ground truth.

Needs ffmpeg/ffprobe, espeak-ng and sox (Debian packages); no network service. The Mandarin check needs the zh
TTS venv (``bash scripts/install-zh-tts.sh``) and is skipped without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.samples import GroundTruth, SampleResult, SampleSpec, generate_interview

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("ffmpeg", "ffprobe", "espeak-ng", "sox")),
    reason="needs ffmpeg, ffprobe, espeak-ng and sox (apt-get install -y ffmpeg espeak-ng sox)",
)

FPS = 10


def probe(path: Path, *entries: str) -> dict[str, object]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", *entries, str(path)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    data: dict[str, object] = json.loads(out)
    return data


def streams(info: dict[str, object], kind: str) -> list[dict[str, object]]:
    all_streams = info["streams"]
    assert isinstance(all_streams, list)
    return [s for s in all_streams if s["codec_type"] == kind]


def _faces(gray: np.ndarray, min_size: int) -> list[tuple[int, int, int, int]]:
    """Haar frontal faces, with overlapping hits on one head (hair, chin) merged into one."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    found = cascade.detectMultiScale(gray, 1.1, 5, minSize=(min_size, min_size))
    kept: list[tuple[int, int, int, int]] = []
    for b in sorted(((int(x), int(y), int(w), int(h)) for x, y, w, h in found), key=lambda b: -b[2]):
        ok = True
        for k in kept:
            w = min(b[0] + b[2], k[0] + k[2]) - max(b[0], k[0])
            h = min(b[1] + b[3], k[1] + k[3]) - max(b[1], k[1])
            ok &= max(0, w) * max(0, h) <= 0.1 * min(b[2] * b[3], k[2] * k[3])
        if ok:
            kept.append(b)
    return kept


@pytest.fixture(scope="module")
def en_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleResult:
    spec = SampleSpec(seed=11, duration=12, width=640, height=480, fps=FPS, candidate="weak")
    return generate_interview(spec, tmp_path_factory.mktemp("en"), tts_cache=None)


@pytest.fixture(scope="module")
def frames(en_sample: SampleResult) -> list[np.ndarray]:
    """Decoded grey frames of the English sample, index = time * FPS."""
    cap = cv2.VideoCapture(str(en_sample.media_path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    cap.release()
    return out


@pytest.fixture(scope="module")
def audio(en_sample: SampleResult) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(en_sample.media_path), "-f", "s16le", "-ac", "1", "-ar", "16000", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0


def test_probe_matches_the_request(en_sample: SampleResult) -> None:
    info = probe(en_sample.media_path)
    fmt = info["format"]
    assert isinstance(fmt, dict)
    assert float(fmt["duration"]) == pytest.approx(12.0, abs=0.2)
    (video,) = streams(info, "video")
    assert (video["width"], video["height"], video["codec_name"]) == (640, 480, "h264")
    assert video["avg_frame_rate"] == "10/1" and int(str(video["nb_frames"])) == 120
    (aud,) = streams(info, "audio")
    assert aud["sample_rate"] == "16000" and aud["channels"] == 1
    truth = GroundTruth.read(en_sample.truth_path)
    assert truth == en_sample.truth
    assert truth.media is not None and truth.media.path == en_sample.media_path.name


def test_same_seed_gives_the_same_files(en_sample: SampleResult, tmp_path: Path) -> None:
    again = generate_interview(en_sample.truth.spec, tmp_path, tts_cache=None)
    assert again.truth_path.read_text() == en_sample.truth_path.read_text()
    assert again.media_path.read_bytes() == en_sample.media_path.read_bytes()


def _at(frames: list[np.ndarray], t: float) -> np.ndarray:
    return frames[min(len(frames) - 1, round(t * FPS))]


def test_faces_follow_the_truth(en_sample: SampleResult, frames: list[np.ndarray]) -> None:
    ev = en_sample.truth.events
    assert len(frames) == 120
    busy = ev.all_ranges()
    calm = [i / FPS for i in range(120) if all(not (s - 0.3 <= i / FPS <= e + 0.3) for _, s, e in busy)]
    assert len(calm) >= 5
    assert [len(_faces(_at(frames, t), 40)) for t in calm] == [1] * len(calm)
    for nf in ev.no_face:
        inside = np.arange(nf.start + 0.05, nf.end - 0.05, 1 / FPS)
        assert [len(_faces(_at(frames, t), 40)) for t in inside] == [0] * len(inside)
    for sf in ev.second_face:
        inside = np.arange(sf.start + 0.05, sf.end - 0.05, 1 / FPS)
        assert [len(_faces(_at(frames, t), 30)) for t in inside] == [2] * len(inside)


def _centres(frames: list[np.ndarray], start: float, end: float) -> np.ndarray:
    """Face centre (x, y) per frame from 0.3 s before start to 0.3 s after end."""
    out = []
    for t in np.arange(start - 0.3, end + 0.31, 1 / FPS):
        faces = _faces(_at(frames, t), 40)
        assert len(faces) == 1, t
        x, y, w, h = faces[0]
        out.append((x + w / 2, y + h / 2))
    return np.asarray(out)


def _swings(values: np.ndarray, threshold: float) -> int:
    """How often the signal rises above rest + threshold (rest: the median of the first and last frames)."""
    rest = float(np.median(np.concatenate([values[:3], values[-3:]])))
    up = values > rest + threshold
    return int(np.sum(up[1:] & ~up[:-1]) + up[0])


def test_nods_and_shakes_are_visible_with_their_count(en_sample: SampleResult, frames: list[np.ndarray]) -> None:
    ev = en_sample.truth.events
    assert ev.nods and ev.shakes
    for nod in ev.nods:
        ys = _centres(frames, nod.start, nod.end)[:, 1]
        assert _swings(ys, nod.amplitude * 480 / 2) == nod.count  # face moves down count times
    for shake in ev.shakes:
        xs = _centres(frames, shake.start, shake.end)[:, 0]
        assert _swings(xs, shake.amplitude * 640 / 2) == shake.count  # to the right count times...
        assert _swings(-xs, shake.amplitude * 640 / 2) == shake.count  # ...and to the left


def test_look_away_goes_the_recorded_way(en_sample: SampleResult, frames: list[np.ndarray]) -> None:
    for la in en_sample.truth.events.look_aways:
        before, during = (_faces(_at(frames, t), 40) for t in (la.start - 0.3, (la.start + la.end) / 2))
        assert len(before) == len(during) == 1
        shift = (during[0][0] + during[0][2] / 2) - (before[0][0] + before[0][2] / 2)
        assert abs(shift) > 15 and (shift < 0) == (la.direction == "left")


def test_speech_and_pauses_where_the_truth_says(en_sample: SampleResult, audio: np.ndarray) -> None:
    sr = 16000

    def rms(a: float, b: float) -> float:
        x = audio[int(a * sr) : int(b * sr)]
        return float(np.sqrt(np.mean(x**2)))

    assert len(audio) / sr == pytest.approx(12.0, abs=0.1)
    truth = en_sample.truth
    segs = [s for q in truth.questions for u in (q.question, q.answer) for s in u.segments if s.kind != "pause"]
    assert any(s.kind == "filler" for s in segs)
    for s in segs:
        assert rms(s.start + 0.02, s.end - 0.02) > 0.03, s
    pauses = [p for q in truth.questions for p in q.answer.pauses]
    assert any(p.scripted for p in pauses)
    for p in pauses:
        assert rms(p.start + 0.03, p.end - 0.03) < 0.005, p
    # Onset of the first word within 40 ms of the truth.
    first = segs[0].start
    loud = np.flatnonzero(np.abs(audio[int((first - 0.3) * sr) :]) > 0.02)
    assert abs((first - 0.3) + loud[0] / sr - first) < 0.04


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return tmp_path


def test_rotation_no_audio(small: Path) -> None:
    spec = SampleSpec(seed=2, duration=6, width=320, height=240, fps=5, rotation=90, audio=False)
    res = generate_interview(spec, small)
    info = probe(res.media_path)
    assert streams(info, "audio") == []
    (video,) = streams(info, "video")
    assert (video["width"], video["height"]) == (320, 240)
    side = video.get("side_data_list", [])
    assert isinstance(side, list)
    assert [s["rotation"] for s in side if "rotation" in s] == [-90]  # display matrix: turn 90 clockwise
    # A player (OpenCV applies the display matrix) shows it upright with the face the right way up.
    cap = cv2.VideoCapture(str(res.media_path))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape[:2] == (320, 240)
    assert len(_faces(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 30)) == 1


def test_variable_frame_rate(small: Path) -> None:
    spec = SampleSpec(seed=3, duration=6, width=320, height=240, fps=15, vfr=True, audio=False)
    res = generate_interview(spec, small)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0",
         str(res.media_path)],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    pts = sorted(float(x.strip(",")) for x in out.split())
    assert res.truth.media is not None
    assert pts == pytest.approx(res.truth.media.video.frame_timestamps, abs=1e-3)
    d = np.diff(pts)
    assert len(pts) < 90 and d.max() > 1.8 / 15 and d.min() < 1.2 / 15 and np.std(d) > 0.01


def test_audio_only(small: Path) -> None:
    res = generate_interview(SampleSpec(seed=1, duration=6, video=False), small)
    assert res.media_path.suffix == ".m4a"
    info = probe(res.media_path)
    assert streams(info, "video") == [] and len(streams(info, "audio")) == 1
    fmt = info["format"]
    assert isinstance(fmt, dict) and float(fmt["duration"]) == pytest.approx(6.0, abs=0.2)


def test_mandarin_voice_speaks(tmp_path: Path) -> None:
    from services.samples.mandarin_tts import INSTALL_COMMAND, MandarinSynthesizer, zh_venv_python
    from services.samples.script import ClipRequest
    from services.samples.speech import ClipStore

    if zh_venv_python() is None:
        pytest.skip(f"Mandarin TTS venv not installed (install with: {INSTALL_COMMAND})")
    synth = MandarinSynthesizer()
    try:
        store = ClipStore(synth, 16000, tmp_path)
        clip = ClipRequest("zh", "candidate", "我负责后端服务，延迟降低了百分之四十。", 1.0)
        answer = store.get(clip)
        filler = store.get(ClipRequest("zh", "candidate", "嗯", 0.8, "filler"))
        # Same text, same audio (the voice's dropout is seeded), whatever was synthesised before.
        assert np.array_equal(synth.synthesize(clip, 16000), synth.synthesize(clip, 16000))
    finally:
        synth.close()
    assert 1.5 < len(answer) / 16000 < 6.0  # 17 syllables at a natural pace
    assert 0.1 < len(filler) / 16000 < 1.0
    assert float(np.sqrt(np.mean(answer**2))) > 0.05
    assert len(list(tmp_path.glob("*.f32"))) == 2
