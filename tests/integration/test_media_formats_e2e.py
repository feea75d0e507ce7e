"""Recordings as people have them, from interview-completed to profiles: every stage in the real worker loop.

A portrait phone recording (HEVC mov with rotation metadata), a browser recording (webm, VP9, Opus, variable frame
rate), an audio-only m4a, an mkv whose first audio track is a dead microphone, and a Codec 2 file the decoder
lacks. All are produced by the sample generator; the profiles must show the face found upright, the speech of
the right track heard, the audio-only profile saying what it could not measure, and the undecodable file
refused at ingest with a reason.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts import (
    TOPICS,
    AudioTrackChoice,
    InterviewCompleted,
    MediaIngested,
    ProfileReady,
    SpeechResults,
    StageName,
    StageStatus,
    VisionFeatures,
    encode,
    message_key,
    topic_for,
)
from services.common.engines import create_worker
from services.common.settings import Settings
from services.frames.stage import make as make_frames
from services.fusion.stage import make as make_fusion
from services.ingest.stage import make as make_ingest
from services.samples import SampleSpec, generate_interview
from services.samples.event import interview_event
from services.speech.stage import make as make_speech
from services.vision.stage import make as make_vision
from tests.integration.kafka_helpers import (
    Record,
    create_topics,
    distinct_events,
    pipeline_settings,
    publish,
    read_all,
    read_topic,
    terminal_statuses,
)

DURATION = 14.0  # one question and the start of its answer
BASE: dict[str, Any] = {"duration": DURATION, "fps": 10, "events": "still"}
SPECS: dict[str, dict[str, Any]] = {
    "portrait": {"seed": 31, "container": "mov", "video_codec": "h265", "rotation": 90, "width": 480, "height": 320},
    "browser": {"seed": 32, "container": "webm", "video_codec": "vp9", "vfr": True, "width": 320, "height": 240},
    "voice": {"seed": 33, "video": False},
    "two-mics": {"seed": 34, "container": "mkv", "audio_tracks": ("silence", "speech"), "width": 320, "height": 240},
    "radio": {"seed": 35, "video": False, "container": "c2"},
}
PROFILED = ("portrait", "browser", "voice", "two-mics")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, InterviewCompleted]:
    out = tmp_path_factory.mktemp("formats-e2e")
    suffix = uuid.uuid4().hex[:6]
    events = {}
    for name, options in SPECS.items():
        result = generate_interview(SampleSpec(**{**BASE, **options}), out, name=name, tts_cache=out / "tts")
        events[name] = interview_event(result, tenant_id="acme", interview_id=f"fmt-{name}-{suffix}")
    return events


@pytest.fixture
def settings(stack_settings: Settings, tmp_path: Path) -> Settings:
    return pipeline_settings(stack_settings, tmp_path)


def _of(records: list[Record], event_type: type[Any], interview_id: str) -> list[Any]:
    topic = topic_for(event_type)
    return [e for e in distinct_events(records, topic) if isinstance(e, event_type) and e.interview_id == interview_id]


async def test_common_formats_to_profiles(settings: Settings, recordings: dict[str, InterviewCompleted]) -> None:
    await create_topics(settings.kafka, TOPICS)
    factories = (make_ingest, make_frames, make_vision, make_speech, make_fusion)
    workers = [create_worker(factory(settings), settings) for factory in factories]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    ids = {name: e.interview_id for name, e in recordings.items()}
    try:
        await publish(
            settings.kafka,
            topic_for(InterviewCompleted),
            [(message_key(e), encode(e)) for e in recordings.values()],
        )
        profiles_topic = topic_for(ProfileReady)
        await read_topic(
            settings.kafka, profiles_topic, lambda r: len(distinct_events(r, profiles_topic)) >= len(PROFILED), 600
        )
        statuses = await read_all(settings.kafka, topic_for(StageStatus))
        ingested = await read_all(settings.kafka, topic_for(MediaIngested))
        vision = await read_all(settings.kafka, topic_for(VisionFeatures))
        speech = await read_all(settings.kafka, topic_for(SpeechResults))
        profile_records = await read_all(settings.kafka, profiles_topic)
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    profiles = {name: _of(profile_records, ProfileReady, ids[name]) for name in PROFILED}
    assert all(len(found) == 1 for found in profiles.values()), profiles
    profile = {name: found[0] for name, found in profiles.items()}
    media = {name: _of(ingested, MediaIngested, ids[name])[0] for name in PROFILED}

    # Every video recording: all its chunks seen by vision and its speech segments transcribed.
    for name in ("portrait", "browser", "two-mics"):
        coverage = profile[name].coverage
        assert coverage.vision_chunks.received == coverage.vision_chunks.expected > 0, name
        assert coverage.speech_segments.received == coverage.speech_segments.expected > 0, name
        assert "no_face_detected" not in profile[name].data_quality, name
        presence = [v.summary.face_present_ratio for v in _of(vision, VisionFeatures, ids[name])]
        assert presence and min(presence) > 0.8, (name, presence)  # the face is found in the upright frames

    portrait = media["portrait"]
    video = portrait.media[0].probe.video
    assert video is not None and (video.codec, video.rotation_deg) == ("hevc", 90)
    assert "rotated" in portrait.flags
    assert "variable_frame_rate" in media["browser"].flags
    assert media["browser"].media[0].probe.video is not None
    assert media["browser"].media[0].probe.video.codec == "vp9"

    # The mkv: the dead first microphone is skipped, the speech on the second track is what speech heard.
    audio = media["two-mics"].media[0].probe.audio
    assert audio is not None and (audio.track, audio.track_count) == (1, 2)
    assert audio.track_choice == AudioTrackChoice.FIRST_WITH_SOUND
    assert "multiple_audio_tracks" in media["two-mics"].flags
    for name in ("two-mics", "voice", "browser", "portrait"):
        words = sum(len(s.words) for s in _of(speech, SpeechResults, ids[name]))
        assert words >= 5, (name, words)

    # Audio-only: a profile from the voice alone that says so, never a silent half profile.
    voice = profile["voice"]
    assert media["voice"].flags == ["audio_only"]
    assert "audio_only" in voice.data_quality
    assert voice.coverage.vision_chunks.expected == 0
    assert voice.coverage.speech_segments.received == voice.coverage.speech_segments.expected > 0
    assert voice.explanation is not None
    not_measured = {n.measure: n.reason for n in voice.explanation.not_measured}
    assert {"eye_contact", "expression", "posture_and_motion"} <= set(not_measured)
    assert {not_measured[m] for m in ("eye_contact", "expression", "posture_and_motion")} == {"no_video"}
    assert voice.overall is not None

    # Codec 2: refused at ingest with the codec named, and nothing downstream.
    [radio] = [s for s in terminal_statuses(statuses) if s.interview_id == ids["radio"]]
    assert radio.stage == StageName.INGEST and radio.state.value == "failed"
    assert radio.reason is not None and radio.reason.code == "unsupported_codec" and not radio.reason.retryable
    assert "'codec2'" in radio.reason.message
    assert not _of(ingested, MediaIngested, ids["radio"])
