"""Decoding small generated clips: sampling, rotation, audio, damaged and non-media input; the chunk
writer's handling of chunks without frames."""

from __future__ import annotations

import io
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

from services.common.handler import Rejected
from services.frames.chunking import Chunk, plan_chunks
from services.frames.collect import ChunkWriter
from services.frames.decode import AUDIO_RATE, AudioBlock, DecodeStats, NotMedia, VideoFrame, decode_media
from services.frames.pack import PackedFrame
from tests.frames_media import cfr_times, vfr_times, write_h264


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s, 160x120 at 25 fps with a 440 Hz tone at 44.1 kHz stereo."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=3",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3",
            "-ac", "2", "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
            str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


def test_video_and_audio_in_one_pass(clip: Path) -> None:
    stats = DecodeStats()
    with clip.open("rb") as fh:
        items = list(
            decode_media(fh, video=True, audio=True, sample_fps=10, rotation_deg=90, stats=stats, skip_unsampled=False)
        )
    frames = [i for i in items if isinstance(i, VideoFrame)]
    blocks = [i for i in items if isinstance(i, AudioBlock)]
    assert stats.video_frames == 75 and stats.sampled_frames == len(frames) == 30
    assert all(f.image.shape == (160, 120, 3) for f in frames)  # rotated upright
    stamps = [f.pts_s for f in frames]
    assert stamps == sorted(stamps) and stamps[0] == 0.0
    assert all(b.samples.dtype == np.int16 for b in blocks)
    assert abs(stats.audio_samples / AUDIO_RATE - 3.0) < 0.1
    starts = [b.start_s for b in blocks]
    assert starts == sorted(starts)


def test_damaged_packets_are_skipped_not_fatal(clip: Path) -> None:
    data = bytearray(clip.read_bytes())
    rng = random.Random(1)
    for pos in range(len(data) // 3, len(data) // 2, 997):  # garbage in the middle of the media data
        data[pos : pos + 64] = rng.randbytes(64)
    stats = DecodeStats()
    frames = [
        i
        for i in decode_media(io.BytesIO(bytes(data)), video=True, audio=False, stats=stats)
        if isinstance(i, VideoFrame)
    ]
    assert frames and frames[-1].pts_s > 2.0  # decoding went on past the damage


def test_not_media_and_missing_streams(clip: Path) -> None:
    with pytest.raises(NotMedia):
        list(decode_media(io.BytesIO(random.Random(2).randbytes(50_000)), video=True, audio=False))
    with pytest.raises(NotMedia):
        list(decode_media(io.BytesIO(b""), video=True, audio=False))
    silent = clip.with_name("silent.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-an", "-c", "copy", str(silent)], check=True)
    with pytest.raises(NotMedia), silent.open("rb") as fh:
        list(decode_media(fh, video=True, audio=True))


def _writer(duration: float) -> tuple[ChunkWriter, list[tuple[Chunk, list[PackedFrame]]]]:
    out: list[tuple[Chunk, list[PackedFrame]]] = []
    writer = ChunkWriter(plan_chunks(duration, 4.0), 4.0, 80, lambda c, f, w, h: out.append((c, f)))
    return writer, out


def test_chunks_without_frames_hold_the_frame_on_screen() -> None:
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    writer, out = _writer(11.0)
    writer.add(0.5, image)
    writer.add(9.0, image)  # nothing between 4 s and 8 s (a pause in a variable-rate recording)
    writer.finish()
    assert [c.index for c, _ in out] == [0, 1, 2]
    assert [[f.pts_s for f in frames] for _, frames in out] == [[0.5], [4.0], [9.0]]

    writer, out = _writer(11.0)
    writer.add(5.0, image)  # the video starts late: chunk 0 shows its first frame
    writer.finish()
    assert sorted((c.index, [f.pts_s for f in frames]) for c, frames in out) == [(0, [0.0]), (1, [5.0]), (2, [8.0])]

    writer, out = _writer(5.0)
    with pytest.raises(Rejected):
        writer.finish()


def _decoded(path: Path, skip: bool, **kwargs: object) -> tuple[list[VideoFrame], DecodeStats]:
    stats = DecodeStats()
    with path.open("rb") as fh:
        items = decode_media(fh, video=True, audio=False, stats=stats, skip_unsampled=skip, **kwargs)  # type: ignore[arg-type]
        return [item for item in items if isinstance(item, VideoFrame)], stats


@pytest.mark.parametrize(
    ("name", "times", "bframes", "fps"),
    [
        ("30 fps, three B-frames", cfr_times(12.0, 30.0), 3, 10.0),
        ("25 fps, one B-frame", cfr_times(12.0, 25.0), 1, 10.0),
        ("variable rate with a pause", vfr_times(12.0, 30.0, seed=5, pause=(4.0, 6.5)), 2, 10.0),
        ("30 fps sampled at 6", cfr_times(12.0, 30.0), 3, 6.0),
        ("no B-frames", cfr_times(6.0, 30.0), 0, 10.0),
    ],
)
def test_dropping_unsampled_frames_keeps_every_sampled_frame(
    tmp_path: Path, name: str, times: list[float], bframes: int, fps: float
) -> None:
    path = write_h264(tmp_path / "v.mp4", times, gop=37, bframes=bframes)
    full, full_stats = _decoded(path, skip=False, sample_fps=fps)
    lean, lean_stats = _decoded(path, skip=True, sample_fps=fps)
    assert [f.pts_s for f in lean] == [f.pts_s for f in full], name
    assert all(np.array_equal(a.image, b.image) for a, b in zip(lean, full, strict=True)), name
    assert full_stats.video_frames == len(times)
    if bframes:  # the decoder really left frames out: the B-frames no frame refers to, only where unsampled
        assert lean_stats.video_frames < 0.9 * len(times), (name, lean_stats.video_frames)
    else:
        assert lean_stats.video_frames == len(times)


def test_a_range_decoded_with_drops_matches_one_without(tmp_path: Path) -> None:
    path = write_h264(tmp_path / "v.mp4", cfr_times(20.0, 30.0), gop=37, bframes=3)
    full, _ = _decoded(path, skip=False, seek_s=8.0)
    lean, _ = _decoded(path, skip=True, seek_s=8.0)
    assert [f.pts_s for f in lean] == [f.pts_s for f in full] and full[0].pts_s < 8.0 + 1.0
    assert all(np.array_equal(a.image, b.image) for a, b in zip(lean, full, strict=True))
