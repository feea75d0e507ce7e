"""Pure parts of the frames stage: sampling, chunking, packs, geometry, audio segments."""

from __future__ import annotations

import io
import itertools
import math
import random
import wave

import cv2
import numpy as np
import pytest

from services.frames.audio import SegmentAssembler, Window, plan_segments, wav_bytes
from services.frames.chunking import chunk_count, chunk_index, plan_chunks
from services.frames.decode import AudioBlock
from services.frames.geometry import fit_size, prepare, rotate_upright, upright_size
from services.frames.pack import (
    PACK_FORMAT,
    PackedFrame,
    PackError,
    decode_jpeg,
    encode_jpeg,
    read_pack,
    read_packed_frames,
    write_pack,
)
from services.frames.sampling import FrameSampler, select


def test_constant_rate_is_thinned_to_the_sample_rate() -> None:
    stamps = [i / 30 for i in range(300)]  # 10 s at 30 fps
    kept = select(stamps, 10.0)
    assert len(kept) == 100
    gaps = np.diff([stamps[i] for i in kept])
    assert gaps.min() > 0.09 and gaps.max() < 0.11


def test_vfr_selection_follows_timestamps_not_indices() -> None:
    rng = random.Random(3)
    stamps, t = [], 0.0
    while t < 20.0:
        stamps.append(t)
        t += rng.choice([1 / 60, 1 / 30, 1 / 15, 0.2, 0.5])  # bursts, drops and pauses
    kept = [stamps[i] for i in select(stamps, 10.0)]
    assert kept == sorted(kept)
    assert len(kept) <= 20.0 * 10 + 1
    slots = [math.floor(k * 10 + 0.25) for k in kept]
    assert len(set(slots)) == len(slots)  # at most one frame per 100 ms slot
    # every 100 ms slot that holds a frame is represented
    held = {math.floor(s * 10 + 0.25) for s in stamps}
    assert set(slots) == held


def test_sampler_ignores_out_of_order_and_invalid_stamps() -> None:
    sampler = FrameSampler(10.0)
    assert sampler.accept(0.0)
    assert not sampler.accept(0.01)
    assert not sampler.accept(float("nan"))
    assert sampler.accept(0.1)
    assert not sampler.accept(0.05)
    with pytest.raises(ValueError):
        FrameSampler(0)


@pytest.mark.parametrize(
    ("duration", "chunk_s", "count"),
    [(8.0, 4.0, 2), (8.5, 4.0, 3), (0.5, 4.0, 1), (7200.0, 4.0, 1800), (4.0000000001, 4.0, 1)],
)
def test_chunk_manifest(duration: float, chunk_s: float, count: int) -> None:
    chunks = plan_chunks(duration, chunk_s)
    assert len(chunks) == count == chunk_count(duration, chunk_s)
    assert [c.index for c in chunks] == list(range(count))
    assert chunks[0].start_s == 0.0 and chunks[-1].end_s == duration
    for a, b in itertools.pairwise(chunks):
        assert a.end_s == b.start_s  # no gaps, no overlaps
    assert all(c.start_s < c.end_s for c in chunks)


def test_last_partial_chunk_and_index_clamping() -> None:
    chunks = plan_chunks(9.0, 4.0)
    assert (chunks[-1].start_s, chunks[-1].end_s) == (8.0, 9.0)
    assert chunk_index(3.999, 4.0, 3) == 0
    assert chunk_index(4.0, 4.0, 3) == 1
    assert chunk_index(9.5, 4.0, 3) == 2  # past the probed duration
    assert chunk_index(-0.01, 4.0, 3) == 0
    with pytest.raises(ValueError):
        plan_chunks(0.0)


def test_pack_round_trip_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    frames = [PackedFrame(0.1 * i, encode_jpeg(img, 95)) for i, img in enumerate(images)]
    data = write_pack(frames, 64, 48, {"chunk_index": 2})
    assert data == write_pack(frames, 64, 48, {"chunk_index": 2})
    pack = read_pack(data)
    assert (pack.width, pack.height) == (64, 48)
    assert pack.timestamps == pytest.approx([0.0, 0.1, 0.2])
    assert pack.meta == {"chunk_index": 2}
    assert [f.shape for f in pack.frames] == [(48, 64, 3)] * 3
    assert read_packed_frames(data) == frames  # the stored JPEG bytes, undecoded
    flat = np.full((48, 64, 3), 120, dtype=np.uint8)
    decoded = read_pack(write_pack([PackedFrame(0.0, encode_jpeg(flat))], 64, 48)).frames[0]
    assert np.abs(decoded.astype(int) - 120).max() <= 2
    with pytest.raises(PackError):
        read_pack(b"not a zip")
    with pytest.raises(PackError):
        read_packed_frames(b"not a zip")
    with pytest.raises(ValueError):
        write_pack([], 64, 48)
    assert PACK_FORMAT == "zip-jpeg-v1"


def test_pack_frames_that_are_not_whole_jpegs_are_refused() -> None:
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (5, 5), 0)
    jpeg = encode_jpeg(image, 90)
    assert np.abs(decode_jpeg(jpeg).astype(int) - image).mean() < 10  # noise through 4:2:0 chroma
    grey = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))[1].tobytes()
    assert decode_jpeg(grey).shape == (120, 160, 3)  # three channels, whatever the JPEG holds
    for bad in (jpeg[: len(jpeg) // 2], b"not a jpeg"):  # a truncated frame is refused, not returned half grey
        with pytest.raises(PackError, match="not a JPEG"):
            read_pack(write_pack([PackedFrame(0.0, bad)], 160, 120))


def test_rotation_turns_frames_upright() -> None:
    image = np.zeros((480, 640, 3), dtype=np.uint8)  # H x W as stored
    image[0, 0] = 255  # top-left marker
    turned = rotate_upright(image, 90)
    assert turned.shape == (640, 480, 3)
    assert turned[0, -1, 0] == 255  # clockwise: top-left goes to top-right
    assert rotate_upright(image, 270)[-1, 0, 0] == 255
    assert rotate_upright(image, 180)[-1, -1, 0] == 255
    assert upright_size(640, 480, 90) == (480, 640)
    assert upright_size(640, 480, 180) == (640, 480)
    with pytest.raises(ValueError):
        rotate_upright(image, 45)


def test_resize_bounds_the_longer_side() -> None:
    assert fit_size(1920, 1080, 640) == (640, 360)
    assert fit_size(1080, 1920, 640) == (360, 640)
    assert fit_size(3840, 2160, 640) == (640, 360)
    assert fit_size(320, 240, 640) == (320, 240)  # never upscaled
    out = prepare(np.zeros((1080, 1920, 3), dtype=np.uint8), 90, 640)
    assert out.shape == (640, 360, 3)


def test_segments_follow_questions_and_fall_back_to_bounded_segments() -> None:
    windows = [Window("q2", 10.0, 20.0), Window("q1", 0.5, 9.0), Window("q3", 30.0, 40.0)]
    segs = plan_segments(windows, 35.0)
    assert [(s.question_id, s.start_s, s.end_s) for s in segs] == [
        ("q1", 0.5, 9.0),
        ("q2", 10.0, 20.0),
        ("q3", 30.0, 35.0),
    ]
    fallback = plan_segments([Window("q9", 100.0, 120.0)], 130.5 - 100.0, 12.0)
    assert [(s.start_s, s.end_s) for s in fallback] == [(0.0, 12.0), (12.0, 24.0), (24.0, 30.5)]
    assert all(s.question_id is None for s in fallback)


def test_assembler_cuts_blocks_at_segment_bounds() -> None:
    rate = 100
    segs = plan_segments([Window("a", 0.5, 1.5), Window("b", 2.0, 5.0)], 4.0)
    assembler = SegmentAssembler(segs, rate)
    done = []
    for start in range(0, 400, 30):  # blocks of 0.3 s
        n = min(30, 400 - start)
        done += assembler.feed(AudioBlock(start / rate, np.arange(start, start + n, dtype=np.int16)))
    done += assembler.finish()
    assert [s.question_id for s, _ in done] == ["a", "b"]
    assert done[0][1].tolist() == list(range(50, 150))
    assert done[1][1].tolist() == list(range(200, 400))


def test_wav_is_16k_mono_s16() -> None:
    data = wav_bytes(np.zeros(1600, dtype=np.int16))
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes()) == (16000, 1, 2, 1600)
