"""Python API: generate a synthetic interview (media + ground truth) from a :class:`SampleSpec`.

from services.samples import SampleSpec, generate_interview
result = generate_interview(SampleSpec(seed=3, duration=30), Path(".local/samples"))
result.media_path, result.truth_path, result.truth.events.nods
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from services.common.settings import PROJECT_ROOT
from services.samples.audio import iter_pcm_blocks, iter_silence_blocks
from services.samples.ground_truth import AudioInfo, GroundTruth, MediaInfo, VideoInfo
from services.samples.mux import AUDIO_CODEC, encode_audio, encode_video, set_mp4_rotation
from services.samples.render_video import SceneRenderer, frame_times
from services.samples.room_sound import RoomSound
from services.samples.script import Scenario, build_scenario, estimate_clip_seconds
from services.samples.spec import SampleSpec
from services.samples.speech import ClipStore, Synthesizer, synthesizer_for

DEFAULT_OUT_DIR = PROJECT_ROOT / ".local" / "samples"
DEFAULT_TTS_CACHE = PROJECT_ROOT / ".local" / "cache" / "samples-tts"

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class SampleResult:
    media_path: Path
    truth_path: Path
    truth: GroundTruth
    stats: dict[str, float] = field(default_factory=dict)


def plan_interview(spec: SampleSpec, store: ClipStore | None = None) -> Scenario:
    """The scenario with speech timing from real TTS output (store) or from estimates (no store)."""
    if store is None:
        return build_scenario(spec, estimate_clip_seconds)
    return build_scenario(spec, store.seconds)


def generate_interview(
    spec: SampleSpec,
    out_dir: Path = DEFAULT_OUT_DIR,
    name: str | None = None,
    tts_cache: Path | None = DEFAULT_TTS_CACHE,
    synthesizer: Synthesizer | None = None,
    progress: Progress | None = None,
) -> SampleResult:
    """Write ``<name>.<container>`` (mp4, or m4a without video, by default) and ``<name>.truth.json`` into out_dir.

    Speech timing comes from the synthesised clips, so the truth matches the audio to the sample. Without audio
    the timeline is planned from estimated clip lengths and no TTS engine is needed.
    """
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = name or spec.default_name()
    fmt = spec.file_format
    media = out_dir / f"{stem}.{fmt}"
    truth_path = out_dir / f"{stem}.truth.json"
    stats: dict[str, float] = {}

    synth: Synthesizer | None = None
    own_synth = False
    store: ClipStore | None = None
    if spec.audio:
        synth = synthesizer or synthesizer_for(spec.lang, spec.interviewer_tts, spec.voice)
        own_synth = synthesizer is None
        store = ClipStore(synth, spec.sample_rate, tts_cache)
    try:
        scenario = plan_interview(spec, store)
        truth = scenario.truth
        if synth is not None:
            truth.generator.tts = synth.voices()
        stats["plan_s"] = time.perf_counter() - t0
        if store is not None:
            stats["clips_synthesised"] = store.synthesised
            stats["clips_from_cache"] = store.from_disk

        audio_tmp: list[Path] = []
        t1 = time.perf_counter()
        if store is not None:
            room = RoomSound(truth, spec.sample_rate).add
            if spec.video:
                for i, content in enumerate(spec.audio_tracks):  # one lossless intermediate per track
                    if content == "speech":
                        blocks = iter_pcm_blocks(
                            scenario.placements, store.get, spec.duration, spec.sample_rate, spec.seed, background=room
                        )
                    else:
                        blocks = iter_silence_blocks(spec.duration, spec.sample_rate, spec.seed)
                    audio_tmp.append(out_dir / f".{stem}.audio{i}.tmp.flac")
                    encode_audio(blocks, spec.sample_rate, audio_tmp[-1], "flac")
            else:
                blocks = iter_pcm_blocks(
                    scenario.placements, store.get, spec.duration, spec.sample_rate, spec.seed, background=room
                )
                encode_audio(blocks, spec.sample_rate, media, AUDIO_CODEC[fmt], fmt)
        stats["audio_s"] = time.perf_counter() - t1
    finally:
        if own_synth and synth is not None:
            synth.close()

    times = frame_times(spec) if spec.video else []
    if spec.video:
        t2 = time.perf_counter()
        renderer = SceneRenderer(spec, truth)
        # One render thread: the other core belongs to the encoder (OpenCV's pool would only contend).
        cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            encode_video(
                _frames(renderer, times, progress),
                spec.width,
                spec.height,
                spec.fps,
                media,
                audio_tmp,
                [round(t * 1000) for t in times] if spec.vfr else None,
                codec=spec.video_codec,
                container=fmt,
                default_audio=spec.default_audio_track,
            )
        finally:
            cv2.setNumThreads(cv_threads)
            for tmp in audio_tmp:
                tmp.unlink(missing_ok=True)
        if spec.rotation:
            set_mp4_rotation(media, spec.rotation)
        stats["video_s"] = time.perf_counter() - t2
        stats["frames"] = len(times)
        stats["video_fps"] = len(times) / stats["video_s"] if stats["video_s"] > 0 else 0.0

    dw, dh = spec.display_size
    truth.media = MediaInfo(
        path=media.name,
        container=fmt,
        duration_s=round(spec.duration, 3),
        video=VideoInfo(
            present=spec.video,
            codec=spec.video_codec,
            coded_width=spec.width,
            coded_height=spec.height,
            display_width=dw,
            display_height=dh,
            rotation=spec.rotation,
            fps=spec.fps,
            vfr=spec.vfr,
            frame_count=len(times),
            frame_timestamps=[round(t, 3) for t in times] if spec.vfr else None,
        ),
        audio=AudioInfo(
            present=spec.audio,
            codec=AUDIO_CODEC[fmt],
            sample_rate=8000 if AUDIO_CODEC[fmt] == "codec2" else spec.sample_rate,
            tracks=list(spec.audio_tracks) if spec.audio else [],
            default_track=spec.default_audio_track,
        ),
    )
    truth.write(truth_path)
    stats["total_s"] = time.perf_counter() - t0
    stats["realtime_factor"] = spec.duration / stats["total_s"]
    return SampleResult(media_path=media, truth_path=truth_path, truth=truth, stats=stats)


def _frames(renderer: SceneRenderer, times: list[float], progress: Progress | None) -> Iterator[bytes]:
    n = len(times)
    step = max(1, n // 200)
    for i, t in enumerate(times):
        yield renderer.i420(t, i)
        if progress is not None and (i % step == 0 or i == n - 1):
            progress("video", i + 1, n)
