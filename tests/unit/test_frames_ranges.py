"""Frame ranges: the planning, and the proof that decoding a recording in ranges gives exactly the chunks
(timestamps and pixels) and key frames of one sequential pass, on H.264 with B-frames and a keyframe interval
off the chunk grid, and on variable frame rate with a pause across a range boundary."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.contracts import (
    EventBase,
    FrameChunkReady,
    FrameRangeRequested,
    MediaIngested,
    message_key,
)
from services.common.handler import Rejected
from services.frames.chunking import chunk_index, plan_chunks
from services.frames.pack import read_pack
from services.frames.ranges import (
    chunks_per_range,
    keyframe_targets,
    owned_targets,
    plan_ranges,
    seek_s,
    should_split,
)
from services.frames.stage import FramesConfig, FramesStage, range_request, select_sources
from tests.frames_media import DirStore, cfr_times, media_event, vfr_times, write_h264

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1"

# --- planning ------------------------------------------------------------------------------------------------


@settings(deadline=None, max_examples=60)
@given(
    st.floats(min_value=0.5, max_value=4 * 3600, allow_nan=False),
    st.sampled_from([1.0, 2.5, 4.0, 6.0]),
    st.floats(min_value=0.5, max_value=900, allow_nan=False),
)
def test_ranges_cover_every_chunk_once_on_the_grid(duration: float, chunk_s: float, range_s: float) -> None:
    chunks = plan_chunks(duration, chunk_s)
    ranges = plan_ranges(chunks, range_s, chunk_s)
    covered = [i for r in ranges for i in range(r.chunk_start, r.chunk_end)]
    assert covered == list(range(len(chunks)))
    assert [r.index for r in ranges] == list(range(len(ranges)))
    for r in ranges:
        assert r.start_s == chunks[r.chunk_start].start_s and r.end_s == chunks[r.chunk_end - 1].end_s
        assert r.chunk_end - r.chunk_start <= chunks_per_range(range_s, chunk_s)
    assert all(a.end_s == b.start_s for a, b in itertools.pairwise(ranges))


def test_range_length_is_whole_chunks_and_short_video_keeps_one_pass() -> None:
    assert chunks_per_range(120.0, 4.0) == 30
    assert chunks_per_range(10.0, 4.0) == 2  # rounded to the grid
    assert chunks_per_range(1.0, 4.0) == 1  # never less than one chunk
    assert not should_split(600.0, 600.0, 150, 120.0, 4.0)  # at the threshold: one pass
    assert should_split(600.1, 600.0, 151, 120.0, 4.0)
    assert not should_split(900.0, 600.0, 25, 120.0, 4.0)  # one range would hold it all: nothing to share
    assert seek_s(120.0, 10.0) == pytest.approx(119.9)
    assert seek_s(0.0, 10.0) == 0.0


@settings(deadline=None, max_examples=60)
@given(
    st.lists(
        st.tuples(st.floats(min_value=-5, max_value=700), st.floats(min_value=0.01, max_value=300)),
        min_size=1,
        max_size=12,
    ),
    st.floats(min_value=10, max_value=600),
    st.sampled_from([4.0, 8.0, 40.0]),
)
def test_every_key_frame_target_has_exactly_one_owning_range(
    windows: list[tuple[float, float]], duration: float, range_s: float
) -> None:
    questions = [(f"q{i}", start, start + length) for i, (start, length) in enumerate(windows)]
    targets = keyframe_targets(questions, duration, 10.0)
    chunks = plan_chunks(duration, 4.0)
    owned = [
        t
        for r in plan_ranges(chunks, range_s, 4.0)
        for t in owned_targets(targets, r.chunk_start, r.chunk_end, 4.0, len(chunks))
    ]
    assert sorted(owned) == sorted(targets)
    for qid, label, t in targets:  # the owner is the range whose chunks hold the time
        (owner,) = [
            r
            for r in plan_ranges(chunks, range_s, 4.0)
            if (qid, label, t) in owned_targets(targets, r.chunk_start, r.chunk_end, 4.0, len(chunks))
        ]
        assert owner.chunk_start <= chunk_index(t, 4.0, len(chunks)) < owner.chunk_end


def test_the_example_is_what_frames_emits_for_the_example_media() -> None:
    media = MediaIngested.model_validate_json((EXAMPLES / "media-ingested.json").read_bytes())
    example_range = FrameRangeRequested.model_validate_json((EXAMPLES / "frame-range-requested.json").read_bytes())
    stage = FramesStage(None, "work", FramesConfig(split_above_s=300.0, range_s=120.0))  # type: ignore[arg-type]
    video, _ = select_sources(media)
    assert video is not None
    ranges = stage.plan(video)
    emitted = range_request(media, video, ranges[example_range.range_index], len(ranges), stage.config)
    skip = {"occurred_at", "producer"}
    assert emitted.model_dump(exclude=skip) == example_range.model_dump(exclude=skip)
    assert emitted.caused_by == media.event_id == emitted.media_event_id
    # claim-check: the range names the stored recording, it never carries it
    assert emitted.video.object == video.object
    assert len(emitted.model_dump_json()) < 16_384


# --- equivalence with a sequential pass ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    chunks: dict[int, FrameChunkReady]
    packs: dict[int, tuple[list[float], list[bytes]]]
    keyframes: dict[str, bytes]
    writes: dict[str, int]
    ranges: list[FrameRangeRequested]


def run(event: MediaIngested, root: Path, config: FramesConfig, order_seed: int = 0) -> Outcome:
    store = DirStore(root)
    stage = FramesStage(store, "work", config)  # type: ignore[arg-type]
    outputs: list[EventBase] = list(stage.process(event))
    ranges = [e for e in outputs if isinstance(e, FrameRangeRequested)]
    random.Random(order_seed).shuffle(ranges)  # replicas take ranges in any order
    for frame_range in ranges:
        outputs += stage.process_range(frame_range)
    chunks = {e.chunk_index: e for e in outputs if isinstance(e, FrameChunkReady)}
    assert len(chunks) == len([e for e in outputs if isinstance(e, FrameChunkReady)]), "a chunk was emitted twice"
    packs = {}
    for index, chunk in chunks.items():
        pack = read_pack((root / "work" / chunk.object.key).read_bytes())
        packs[index] = (pack.timestamps, [f.tobytes() for f in pack.frames])
    keyframes = {k: (root / "work" / k).read_bytes() for k in store.writes if "/keyframes/" in k}
    return Outcome(chunks, packs, keyframes, store.writes, sorted(ranges, key=lambda r: r.range_index))


MEDIA = {
    # B-frames, a keyframe every 37 frames (1.23 s): keyframes fall everywhere on the 4-second grid
    "cfr-bframes": (lambda: cfr_times(30.0, 30.0), 37, 30.0),
    # keyframes exactly on the chunk grid, and at 50 fps the frame 20 ms before a boundary takes the first
    # sampling slot of the next chunk: a range that started decoding at its keyframe would keep one frame too many
    "cfr-50fps-gop-on-grid": (lambda: cfr_times(30.0, 50.0), 200, 30.0),
    # a keyframe every 5 s, longer than a chunk: ranges seek far back
    "cfr-long-gop": (lambda: cfr_times(30.0, 30.0), 150, 30.0),
    # variable rate, dropped frames, jitter, and no frame from 7.3 s to 12.6 s: chunks 2 and the start of a
    # range (at 8 s) have no frame of their own and hold the frame on screen
    "vfr-pause": (lambda: vfr_times(30.0, 30.0, seed=3, pause=(7.3, 12.6)), 37, 30.0),
}
QUESTIONS = [("q1", 0.0, 7.95), ("q2", 7.99, 16.0), ("q3", 16.02, 24.03), ("q4", 24.5, 40.0)]


@pytest.fixture(scope="module", params=sorted(MEDIA))
def recording(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    times, gop, duration = MEDIA[request.param]
    path = tmp_path_factory.mktemp("ranges") / f"{request.param}.mp4"
    return write_h264(path, times(), gop=gop), duration


@pytest.mark.parametrize("range_s", [8.0, 4.0])
def test_split_decoding_gives_the_chunks_and_key_frames_of_one_pass(
    recording: tuple[Path, float], range_s: float, tmp_path: Path
) -> None:
    path, duration = recording
    single_root, split_root = tmp_path / "single", tmp_path / "split"
    single = run(media_event(path, single_root, duration, QUESTIONS), single_root, FramesConfig())
    event = media_event(path, split_root, duration, QUESTIONS)
    split = run(event, split_root, FramesConfig(split_above_s=0.0, range_s=range_s), order_seed=int(range_s))

    assert not single.ranges and len(split.ranges) == len(plan_chunks(duration, 4.0)) // int(range_s / 4.0)
    assert sorted(split.chunks) == sorted(single.chunks) == list(range(len(single.chunks)))
    for index, chunk in single.chunks.items():
        other = split.chunks[index]
        assert other.model_dump(exclude={"occurred_at"}) == chunk.model_dump(exclude={"occurred_at"}), index
        assert split.packs[index][0] == single.packs[index][0], f"chunk {index}: timestamps differ"
        assert split.packs[index][1] == single.packs[index][1], f"chunk {index}: pixels differ"
    assert split.keyframes == single.keyframes
    assert len(single.keyframes) == 3 * len(QUESTIONS)
    # every output object is written exactly once, by the range that owns it
    assert {k: n for k, n in split.writes.items() if n != 1} == {}
    assert set(split.writes) == set(single.writes)


def test_ranges_are_keyed_apart_and_replayed_ranges_repeat_themselves(
    recording: tuple[Path, float], tmp_path: Path
) -> None:
    path, duration = recording
    event = media_event(path, tmp_path, duration, QUESTIONS)
    first = run(event, tmp_path, FramesConfig(split_above_s=0.0, range_s=8.0))
    again = run(event, tmp_path, FramesConfig(split_above_s=0.0, range_s=8.0), order_seed=5)
    assert len({message_key(r) for r in first.ranges}) == len(first.ranges)  # spread over partitions
    assert [r.event_id for r in first.ranges] == [r.event_id for r in again.ranges]
    assert {i: c.event_id for i, c in first.chunks.items()} == {i: c.event_id for i, c in again.chunks.items()}
    assert first.packs == again.packs and first.keyframes == again.keyframes


def test_a_range_is_refused_without_video_consent_and_when_it_does_not_fit(tmp_path: Path) -> None:
    path = write_h264(tmp_path / "short.mp4", cfr_times(12.0, 30.0), gop=37)
    event = media_event(path, tmp_path, 12.0, QUESTIONS)
    stage = FramesStage(DirStore(tmp_path), "work", FramesConfig(split_above_s=0.0, range_s=4.0))  # type: ignore[arg-type]
    ranges = [e for e in stage.process(event) if isinstance(e, FrameRangeRequested)]
    assert len(ranges) == 3
    no_face = ranges[1].context.model_copy(update={"permitted_analyses": ["audio_analysis", "transcription"]})
    with pytest.raises(Rejected) as refused:
        stage.process_range(ranges[1].model_copy(update={"context": no_face}))
    assert refused.value.code == "policy_forbids" and "range 2/3" in refused.value.message
    # without video consent the media event (video only here) is refused as a whole and asks for no range
    with pytest.raises(Rejected, match="permit no stream"):
        stage.process(event.model_copy(update={"context": no_face}))
    with pytest.raises(Rejected) as misfit:
        stage.process_range(ranges[2].model_copy(update={"chunk_end": 3, "total_chunks": 5}))
    assert misfit.value.code == "invalid_event"
    assert json.loads(ranges[0].model_dump_json())["video"]["object"]["key"] == "rec.mp4"


def test_range_statuses_carry_their_chunks() -> None:
    from services.common.processing import _unit_detail

    frame_range = FrameRangeRequested.model_validate_json((EXAMPLES / "frame-range-requested.json").read_bytes())
    assert _unit_detail(frame_range) == {
        "unit_kind": "range",
        "unit_index": 1,
        "unit_total": 4,
        "chunk_start": 30,
        "chunk_end": 60,
    }
    stage = FramesStage(None, "work")  # type: ignore[arg-type]
    assert stage.promised_outputs(frame_range) == {"sightline.frame-chunk-ready.v1": 30}
