"""Vision building blocks without the sample videos: pose geometry, signal tools, registry, timeline,
the emotion-inference decision, episode joining, the shared batcher, and the inference shortcuts (folded
networks, batched detection, fast downscaling)."""

from __future__ import annotations

import asyncio
import copy
import platform
import threading
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from services.common.contracts import ConsentScope, EmotionInferenceReason, FrameChunkReady, TimeRange
from services.samples import SampleSpec
from services.samples.motion import Pose as ScenePose
from services.samples.render_video import SceneRenderer
from services.samples.script import build_scenario
from services.vision.aggregate import Period, clip, join
from services.vision.analyzer import select_device, shrink
from services.vision.batcher import Batcher
from services.vision.expression import ExpressionNet, load_expression, probabilities
from services.vision.inference import CPU_PASS, keep_freed_memory, prepare
from services.vision.pose import Pose, head_pose, project
from services.vision.registry import EXPRESSION, FACE_DETECTOR, get_model, list_models
from services.vision.retinaface import RetinaFaceNet, detect, load_retinaface
from services.vision.signals import TurningPoint, moving_average, runs, turning_points
from services.vision.stage import emotion_decision, timeline_key
from services.vision.timeline import encode_timeline, read_timeline
from tests.integration.stage_fixtures import example


@pytest.mark.parametrize(
    "pose",
    [Pose(25, 0, 0), Pose(-25, 0, 0), Pose(0, 15, 0), Pose(0, -15, 0), Pose(0, 0, 12), Pose(-18, 8, -6)],
)
def test_head_pose_recovers_projected_pose(pose: Pose) -> None:
    points = project(pose, 600.0, 640, 480)
    found = head_pose(points, 640, 480)
    assert found is not None
    assert found.yaw_deg == pytest.approx(pose.yaw_deg, abs=1.0)
    assert found.pitch_deg == pytest.approx(pose.pitch_deg, abs=1.0)
    assert found.roll_deg == pytest.approx(pose.roll_deg, abs=1.0)


def test_head_pose_signs_in_image_terms() -> None:
    frontal = project(Pose(0, 0, 0), 600.0, 640, 480)
    eyes_mid = lambda p: (p[0] + p[1]) / 2  # noqa: E731
    turned_left = project(Pose(25, 0, 0), 600.0, 640, 480)
    # turning to the image's left brings the nose tip toward x = 0 relative to the eyes
    assert (turned_left[2] - eyes_mid(turned_left))[0] < (frontal[2] - eyes_mid(frontal))[0] - 5
    looking_up = project(Pose(0, 20, 0), 600.0, 640, 480)
    # looking up raises the nose tip toward the eyes (smaller image y gap)
    assert (looking_up[2] - eyes_mid(looking_up))[1] < (frontal[2] - eyes_mid(frontal))[1] - 5
    clockwise = project(Pose(0, 0, 15), 600.0, 640, 480)
    # a clockwise tilt lifts the eye on the image's left above the other
    assert clockwise[0][1] < clockwise[1][1]


def test_turning_points_confirm_only_what_the_signal_leaves() -> None:
    t = np.arange(0, 3, 0.1)
    wave = np.where((t > 0.5) & (t < 2.3), 0.1 * (1 - np.cos(2 * np.pi * (t - 0.5) / 0.6)) / 2, 0.0)
    maxima = [p.index for p in turning_points(wave, 0.06) if p.kind == 1]
    assert len(maxima) == 3  # three down-and-up cycles
    assert turning_points(wave * 0.3, 0.06) == []  # too small to count
    rising = np.linspace(0, 1, 10)
    assert turning_points(rising, 0.1) == []  # the last extreme is never confirmed
    assert turning_points(rising, 0.1, tail=0.5) == []  # nor reported while the signal still heads for it
    peak_at_end = np.array([0.0, 0.0, 0.05, 0.1, 0.12, 0.08])
    assert turning_points(peak_at_end, 0.06) == []
    assert turning_points(peak_at_end, 0.06, tail=0.5) == [TurningPoint(4, 1)]  # it has turned back by half a swing


def test_runs_and_moving_average() -> None:
    assert runs([False, True, True, False, True]) == [(1, 3), (4, 5)]
    assert runs([]) == []
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    smoothed = moving_average(x, 3)
    assert smoothed.shape == x.shape
    assert smoothed[1] == pytest.approx([1 / 3, 2 / 3])
    assert smoothed[0] == pytest.approx([0.5, 0.5])


def test_join_merges_pieces_across_chunk_boundaries() -> None:
    pieces = [TimeRange(start_s=3.5, end_s=4.0), TimeRange(start_s=4.0, end_s=4.6), TimeRange(start_s=9.0, end_s=9.4)]
    assert join(pieces, min_s=1.0) == [Period(start_s=3.5, end_s=4.6)]
    assert len(join(pieces)) == 2
    assert clip(join(pieces), 4.2, 9.2) == [Period(start_s=4.2, end_s=4.6), Period(start_s=9.0, end_s=9.2)]


def test_registry_resolves_installed_weights_and_licences() -> None:
    for entry in list_models():
        path = entry.weights_path()
        assert path.is_file() and path.stat().st_size > 100_000
        assert entry.licence in entry.installed_licence()
        assert entry.version and entry.input_size and entry.preprocessing and entry.outputs
    with pytest.raises(KeyError, match="unknown model"):
        get_model("nope")


def test_timeline_round_trip() -> None:
    columns: dict[str, list[object]] = {
        "pts_s": [0.0, 0.1],
        "faces": [1, 0],
        "face_search": ["window", "whole"],
        "box": [[0.1, 0.2, 0.3, 0.4], None],
        "yaw_deg": [3.5, None],
        "eye_contact": [True, None],
    }
    table = read_timeline(encode_timeline(columns, {"chunk_index": "3"}))
    assert table.column_names == list(columns)
    assert table.column("faces").to_pylist() == [1, 0]
    assert table.column("face_search").to_pylist() == ["window", "whole"]
    assert table.column("box").to_pylist()[1] is None
    assert table.schema.metadata[b"chunk_index"] == b"3"
    assert encode_timeline(columns) == encode_timeline(columns)  # same content, same bytes


def _chunk_event(consented: list[str], permitted: list[str]) -> FrameChunkReady:
    event = FrameChunkReady.model_validate(example("frame-chunk-ready"))
    context = event.context.model_copy(update={"consent_scopes": consented, "permitted_analyses": permitted})
    return event.model_copy(update={"context": context})


def test_emotion_decision_reasons() -> None:
    base = [ConsentScope.VIDEO_ANALYSIS.value, ConsentScope.FACE_ANALYSIS.value]
    emotion = ConsentScope.EMOTION_INFERENCE.value
    allowed = emotion_decision(_chunk_event([*base, emotion], [*base, emotion]), True)
    assert allowed.performed and allowed.reason == EmotionInferenceReason.PERMITTED
    banned = emotion_decision(_chunk_event([*base, emotion], base), True)  # consented, removed by the policy
    assert not banned.performed and banned.reason == EmotionInferenceReason.JURISDICTION_PROHIBITS
    unasked = emotion_decision(_chunk_event(base, base), True)
    assert not unasked.performed and unasked.reason == EmotionInferenceReason.NO_CONSENT
    off = emotion_decision(_chunk_event([*base, emotion], [*base, emotion]), False)
    assert not off.performed and off.reason == EmotionInferenceReason.DISABLED


def test_timeline_key_is_under_the_interview() -> None:
    event = FrameChunkReady.model_validate(example("frame-chunk-ready"))
    key = timeline_key(event)
    assert key.startswith(f"{event.tenant_id}/{event.interview_id}/vision/")
    assert key.endswith(f"/timeline/{event.chunk_index:06d}.parquet")


def test_batcher_shares_passes_between_submitters_and_keeps_order() -> None:
    calls: list[list[int]] = []
    threads: set[str] = set()

    def run(values: Sequence[int]) -> list[int]:
        calls.append(list(values))
        threads.add(threading.current_thread().name)
        return [v * 10 for v in values]

    async def scenario() -> list[list[int]]:
        batcher: Batcher[int, int] = Batcher(run, max_batch=8, max_wait_s=0.05)
        try:
            return list(await asyncio.gather(*(batcher.submit(list(range(k * 5, k * 5 + 5))) for k in range(3))))
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    assert results == [[v * 10 for v in range(k * 5, k * 5 + 5)] for k in range(3)]
    assert [len(c) for c in calls] == [8, 7]  # 15 frames of three submitters in two passes
    assert len(threads) == 1 and threading.current_thread().name not in threads


def test_batcher_failure_reaches_every_waiting_submitter() -> None:
    def run(values: Sequence[int]) -> list[int]:
        raise RuntimeError("model failed")

    async def scenario() -> list[BaseException | list[int]]:
        batcher: Batcher[int, int] = Batcher(run, max_batch=4, max_wait_s=0.01)
        try:
            return list(await asyncio.gather(batcher.submit([1]), batcher.submit([2]), return_exceptions=True))
        finally:
            await batcher.stop()

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(scenario()))


def test_batcher_runs_batches_side_by_side_on_its_threads() -> None:
    both_running = threading.Barrier(2, timeout=5)  # passes only when two batches run at once
    initialised: list[str] = []

    def run(values: Sequence[int]) -> list[int]:
        both_running.wait()
        return [v * 10 for v in values]

    async def scenario() -> list[list[int]]:
        batcher: Batcher[int, int] = Batcher(
            run, max_batch=4, max_wait_s=0.01, workers=2, init_worker=lambda: initialised.append("thread")
        )
        try:
            return list(await asyncio.gather(batcher.submit([1, 2, 3, 4]), batcher.submit([5, 6, 7, 8])))
        finally:
            await batcher.stop()

    assert asyncio.run(scenario()) == [[10, 20, 30, 40], [50, 60, 70, 80]]
    assert initialised == ["thread", "thread"]


def test_device_selection() -> None:
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_models_run_in_half_precision_on_cuda() -> None:
    from services.vision.analyzer import FrameAnalyzer, FrameJob
    from services.vision.settings import VisionSettings

    analyzer = FrameAnalyzer(VisionSettings(device="cuda"))
    assert next(analyzer.detector.parameters()).dtype == torch.float16
    frame = np.full((480, 640, 3), 128, np.uint8)
    results = analyzer.analyse([FrameJob(frame, True)] * 4)
    assert len(results) == 4 and all(r.faces == 0 for r in results)


@pytest.mark.parametrize(("make", "shape"), [(RetinaFaceNet, (2, 3, 96, 128)), (ExpressionNet, (3, 1, 48, 48))])
def test_prepared_networks_compute_what_they_did(make: Callable[[], nn.Module], shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    net = make().eval()
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):  # statistics far from the identity, as a trained network has
            module.running_mean.uniform_(-1.0, 1.0)
            module.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.5, 0.5)
    x = torch.randn(shape)
    with torch.inference_mode():
        expected = net(x)
        prepared = prepare(copy.deepcopy(net), torch.device("cpu"))
        got = prepared(x.contiguous(memory_format=torch.channels_last))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in prepared.modules())
    outputs = [o if isinstance(o, tuple) else (o,) for o in (expected, got)]
    for e, g in zip(*outputs, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)


def test_batched_detection_gives_each_frame_what_it_gets_alone() -> None:
    spec = SampleSpec(seed=7, duration=10, fps=10, audio=False)
    renderer = SceneRenderer(spec, build_scenario(spec).truth)
    poses = [ScenePose(dx=0.01 * k, second_face=float(k % 3 == 1), gain=1.0 + 0.01 * k) for k in range(CPU_PASS + 4)]
    poses[-1] = ScenePose(dx=1.2)  # out of the picture
    frames = [shrink(renderer.render_pose(pose, k), 0.4) for k, pose in enumerate(poses)]
    net = load_retinaface(str(FACE_DETECTOR.weights_path()), torch.device("cpu"))
    batched = detect(net, torch.from_numpy(np.stack(frames)), 0.6)
    assert [len(d.scores) for d in batched][:3] == [1, 2, 1] and len(batched[-1].scores) == 0
    for frame, together in zip(frames, batched, strict=True):
        (alone,) = detect(net, torch.from_numpy(frame[None]), 0.6)
        for field in ("boxes", "scores", "landmarks"):
            np.testing.assert_allclose(getattr(together, field), getattr(alone, field), rtol=1e-4, atol=1e-2)


def test_expression_passes_give_each_crop_what_it_gets_alone() -> None:
    net = load_expression(str(EXPRESSION.weights_path()), torch.device("cpu"))
    rng = np.random.default_rng(5)
    crops = np.asarray(cv2.GaussianBlur(rng.integers(0, 256, (48, 48 * (CPU_PASS + 5)), np.uint8), (0, 0), 1.5))
    crops = np.ascontiguousarray(crops.reshape(48, CPU_PASS + 5, 48).transpose(1, 0, 2))
    together = probabilities(net, crops, torch.device("cpu"))
    assert together.shape == (CPU_PASS + 5, 7)
    for crop, row in zip(crops, together, strict=True):
        np.testing.assert_allclose(row, probabilities(net, crop[None], torch.device("cpu"))[0], rtol=1e-4, atol=1e-5)


def test_freed_memory_is_kept_where_the_allocator_allows() -> None:
    # Process-wide, as in a worker: only the allocator's reuse of freed blocks changes.
    assert keep_freed_memory() == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def test_shrink_averages_like_opencv_area_resize() -> None:
    rng = np.random.default_rng(3)
    image = np.asarray(cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 2.0), np.uint8)
    small = shrink(image, 0.4)
    assert small.shape == (192, 256, 3)
    area = cv2.resize(image, (256, 192), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(np.int16) - area).mean() < 1.0
    assert shrink(image, 1.0) is image


def test_windows_sit_on_the_detectors_grid_and_are_padded_past_the_frame() -> None:
    from services.vision.retinaface import BGR_MEAN
    from services.vision.window import WINDOW_GRID, cut, place

    small = np.arange(192 * 256 * 3, dtype=np.uint32).reshape(192, 256, 3).astype(np.uint8)  # scaled by 0.4
    face = (250 / 640, 150 / 480, 375 / 640, 305 / 480)  # 155 frame pixels high: 62 at the whole search's scale
    inside = place(face, 640, 480, 0.4)
    assert inside is not None and inside.scale == 0.4  # big enough: measured at the whole search's scale
    assert inside.side == 128 and inside.expected_side == pytest.approx(62, abs=0.01)  # twice 62, up to the grid
    assert inside.x0 % WINDOW_GRID == 0 and inside.y0 % WINDOW_GRID == 0
    x0, y0 = inside.x0, inside.y0
    assert np.array_equal(cut(small, inside), small[y0 : y0 + 128, x0 : x0 + 128])  # the scaled frame's own pixels
    # a face a pixel away gives the same window: a face that stays put is searched in the same pixels
    assert place((252 / 640, 152 / 480, 377 / 640, 307 / 480), 640, 480, 0.4) == inside
    edge = place((550 / 640, 375 / 480, 675 / 640, 500 / 480), 640, 480, 0.4)  # partly off the frame
    assert edge is not None
    ex, ey = edge.x0, edge.y0
    pixels = cut(small, edge)
    assert pixels.shape == (128, 128, 3) and ex + 128 > 256 and ey + 128 > 192
    assert np.array_equal(pixels[: 192 - ey, : 256 - ex], small[ey:, ex:])
    assert (pixels[192 - ey :, :] == np.array(BGR_MEAN, np.uint8)).all()  # the detector's zero input
    assert edge.holds(np.array([30, 30, 90, 90], np.float32))
    assert not edge.holds(np.array([0, 30, 60, 90], np.float32))  # touching the edge: may be cut off
    assert not edge.holds(np.array([30, 30, 50, 50], np.float32))  # far smaller than expected: someone else
    assert place((0.02, 0.02, 0.98, 0.98), 640, 480, 0.4) is None  # as large as the frame: measured whole


def test_small_faces_are_measured_enlarged_to_the_detectors_working_size() -> None:
    from services.vision.window import MAX_UPSCALE, MEASURE_FACE_PX, enlarged, measure_scale, place

    assert measure_scale(160, 0.4) == 0.4  # 64 pixels at the whole search's scale: no need to enlarge
    for face in (20.0, 30.0, 40.0, 60.0, 90.0):
        scale = measure_scale(face, 0.4)
        assert 0.4 <= scale <= MAX_UPSCALE
        at_top = scale * 2 ** (1 / 4) > MAX_UPSCALE  # the ladder's last step
        assert face * scale == pytest.approx(MEASURE_FACE_PX, rel=0.1) or at_top
    assert measure_scale(41.0, 0.4) == measure_scale(43.0, 0.4)  # a face whose size wavers keeps its scale
    rng = np.random.default_rng(5)
    frame = np.asarray(cv2.GaussianBlur(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8), (0, 0), 1.5), np.uint8)
    window = place((0.40, 0.40, 0.46, 0.51), 640, 360, 0.4)  # a 40-pixel face
    assert window is not None and window.scale > 1.0
    whole = cv2.resize(frame, None, fx=window.scale, fy=window.scale, interpolation=cv2.INTER_LINEAR)
    reference = whole[window.y0 : window.y0 + window.side, window.x0 : window.x0 + window.side]
    # the same pixels the whole frame enlarged would give, from the window alone (bilinear rounding aside)
    assert np.abs(enlarged(frame, window).astype(np.int16) - reference).max() <= 2
    points = np.array([[0.0, 0.0], [window.side, window.side]], np.float32)
    assert np.allclose(window.to_frame(points) * window.scale, points + window.origin)
