"""The realistic-media bench's measuring pieces: the floor table, the memory ratio, the looped recordings and the
decoder levers' sameness check against today's decoding."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from services.frames.decode import VideoFrame
from tests.bench import decoder_levers, floors
from tests.bench.bench_realistic import floor_table, rss_ratio
from tests.bench.realistic_media import looped

#: The generator's x264 settings at 30 fps: one B-frame between references, a keyframe every 2 s.
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-x264-params", "bframes=1:ref=1", "-g", "60", "-pix_fmt", "yuv420p"]


def _h264(path: Path, seconds: float, fps: int = 30) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={fps}:duration={seconds:g}",
         "-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=48000:duration={seconds:g}",
         *X264, "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


def _probe(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name,has_b_frames,sample_rate",
         "-of", "json", str(path)],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    info: dict[str, object] = json.loads(out)
    return info


def test_floor_table_divides_each_stage_by_its_floor_and_leaves_stages_without_one_blank() -> None:
    measured = {
        "frames": {"decode_sampled": {"cpu_s_per_media_minute": 2.0}},
        "vision": {"cpu_s_per_media_minute": 4.0},
        "speech": {"cpu_s_per_media_minute": 5.0},
    }
    rows = floor_table({"frames": 3.0, "vision": 6.0, "speech": 5.0, "sink": 0.4}, measured, {"vision": 2100.0})
    by_stage = {r["stage"]: r for r in rows}
    assert by_stage["frames"]["ratio"] == 1.5 and by_stage["vision"]["ratio"] == 1.5
    assert by_stage["speech"]["ratio"] == 1.0
    assert by_stage["sink"]["floor"] is None and by_stage["sink"]["ratio"] is None
    assert by_stage["vision"]["peak_rss_mb"] == 2100.0 and by_stage["sink"]["peak_rss_mb"] is None


def test_rss_ratio_per_stage_and_its_worst() -> None:
    ratios = rss_ratio({"frames": 330.0, "vision": 1800.0, "gone": None}, {"frames": 300.0, "vision": 1800.0})
    assert ratios == {"frames": 1.1, "vision": 1.0, "gone": None, "max": 1.1}


def test_a_looped_recording_is_the_same_h264_stream_repeated_to_the_length(tmp_path: Path) -> None:
    source = _h264(tmp_path / "segment.mp4", 4)
    out = looped(source, 0.25, tmp_path / "looped.mp4")
    info = _probe(out)
    duration = float(info["format"]["duration"])  # type: ignore[index]
    assert 14.5 <= duration <= 15.5
    streams = {s["codec_name"]: s for s in info["streams"]}  # type: ignore[attr-defined]
    assert streams["h264"]["has_b_frames"] >= 1 and streams["aac"]["sample_rate"] == "48000"
    assert looped(source, 0.25, out) == out  # cached: not written again


def _frame(t: float, value: int) -> VideoFrame:
    return VideoFrame(t, np.full((4, 4, 3), value, np.uint8))


def test_compare_tells_rounding_from_changed_and_moved_frames() -> None:
    today = [_frame(0.0, 100), _frame(0.1, 100), _frame(0.2, 100)]
    assert decoder_levers.compare(today, [_frame(0.0, 101), _frame(0.1, 99), _frame(0.2, 100)])["identical"]
    changed = decoder_levers.compare(today, [_frame(0.0, 100), _frame(0.1, 110), _frame(0.2, 100)])
    assert changed["changed_frames"] == 1 and changed["max_abs_diff"] == 10
    moved = decoder_levers.compare(today, [_frame(0.0, 100), _frame(0.1333, 100), _frame(0.2, 100)])
    assert moved["moved_frames"] == 1 and moved["max_time_shift_ms"] == pytest.approx(33.3, abs=0.1)
    assert not moved["identical"]


def test_levers_against_todays_decoding_on_h264_with_b_frames(tmp_path: Path) -> None:
    path = _h264(tmp_path / "clip.mp4", 3)
    result = decoder_levers.measure(path, 3.0, rounds=1)
    # The harness with no lever pulled must reproduce today's frames, or no comparison below means anything.
    assert result["harness"]["identical"] and result["harness"]["frames"] == 30
    assert result["threads_1"]["identical"] and result["threads_slice"]["identical"]
    # Every other frame is a B-frame nobody refers to: dropping them keeps frames a source frame later.
    assert result["skip_nonref"]["moved_frames"] > 0
    assert result["skip_nonref"]["max_time_shift_ms"] == pytest.approx(33.3, abs=0.1)
    # Skipping only the frames the sampler is sure to reject keeps every sampled frame as it is today.
    assert result["skip_unwanted"]["identical"]
    assert all(result[lever.name]["cpu_s_per_media_minute"] > 0 for lever in decoder_levers.LEVERS)


def test_ffmpeg_floor_reports_cpu_per_media_minute_of_both_passes(tmp_path: Path) -> None:
    result = floors.ffmpeg_floor(_h264(tmp_path / "clip.mp4", 3))
    assert result["media_s"] == pytest.approx(3.0, abs=0.1)
    assert result["decode"]["cpu_s"] > 0 and result["decode_sampled"]["cpu_s"] > 0


async def test_the_gpu_part_skips_with_its_reason_when_torch_sees_no_cuda(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from tests.bench import bench_realistic_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = await bench_realistic_gpu.run(None)  # type: ignore[arg-type]  # no stack is touched when skipping
    assert result == {"skipped": "no CUDA device visible to torch (vision)"}
    assert "skipped: no CUDA device visible to torch" in capsys.readouterr().err
