"""Parsing ffprobe's JSON into the contract's Probe (captured output of generated samples)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts import AudioTrackChoice, FailureCode
from services.ingest.probe import ProbeFailed, choose_audio_track, measured_rate, parse_ffprobe, require_decoders

DATA = Path(__file__).resolve().parent / "data"


def captured(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def test_video_with_audio() -> None:
    probe = parse_ffprobe(captured("ffprobe_good_mp4.json"))
    assert probe.duration_s == pytest.approx(6.0)
    assert probe.container == "mp4"
    assert probe.video is not None and probe.audio is not None
    assert (probe.video.codec, probe.video.width, probe.video.height) == ("h264", 640, 480)
    assert probe.video.fps == pytest.approx(10.0) and probe.video.avg_fps == pytest.approx(10.0)
    assert not probe.video.variable_frame_rate
    assert probe.video.rotation_deg == 0 and probe.video.frame_count == 60
    assert (probe.audio.codec, probe.audio.sample_rate, probe.audio.channels) == ("aac", 16000, 1)


def test_audio_only() -> None:
    probe = parse_ffprobe(captured("ffprobe_audio_m4a.json"))
    assert probe.video is None
    assert probe.audio is not None and probe.audio.sample_rate == 16000
    assert probe.duration_s == pytest.approx(6.0)


def _video(data: dict[str, Any]) -> dict[str, Any]:
    stream: dict[str, Any] = data["streams"][0]
    assert stream["codec_type"] == "video"
    return stream


def test_variable_frame_rate_when_average_and_nominal_rates_differ() -> None:
    data = captured("ffprobe_good_mp4.json")
    _video(data).update(r_frame_rate="30/1", avg_frame_rate="30000/1019")
    probe = parse_ffprobe(data)
    assert probe.video is not None and probe.video.variable_frame_rate
    assert probe.video.avg_fps == pytest.approx(29.441, abs=1e-3)


@pytest.mark.parametrize(("side_rotation", "expected"), [(-90, 90), (90, 270), (180, 180), (-180, 180), (0, 0)])
def test_rotation_from_the_display_matrix_is_clockwise(side_rotation: int, expected: int) -> None:
    data = captured("ffprobe_good_mp4.json")
    _video(data)["side_data_list"] = [{"side_data_type": "Display Matrix", "rotation": side_rotation}]
    probe = parse_ffprobe(data)
    assert probe.video is not None and probe.video.rotation_deg == expected


def test_rotation_from_the_legacy_tag() -> None:
    data = captured("ffprobe_good_mp4.json")
    _video(data)["tags"]["rotate"] = "270"
    probe = parse_ffprobe(data)
    assert probe.video is not None and probe.video.rotation_deg == 270


def test_frame_count_is_optional_and_cover_art_is_not_video() -> None:
    data = captured("ffprobe_audio_m4a.json")
    art = copy.deepcopy(_video(captured("ffprobe_good_mp4.json")))
    art.update(codec_name="mjpeg", disposition={"attached_pic": 1})
    data["streams"].append(art)
    assert parse_ffprobe(data).video is None
    good = captured("ffprobe_good_mp4.json")
    del _video(good)["nb_frames"]
    probe = parse_ffprobe(good)
    assert probe.video is not None and probe.video.frame_count is None


def test_container_names() -> None:
    data = captured("ffprobe_good_mp4.json")
    data["format"]["format_name"] = "matroska,webm"
    assert parse_ffprobe(data, "x.webm").container == "webm"
    assert parse_ffprobe(data, "x.mkv").container == "matroska"
    data["format"]["format_name"] = "wav"
    assert parse_ffprobe(data).container == "wav"


def test_no_streams_is_not_media() -> None:
    with pytest.raises(ProbeFailed) as info:
        parse_ffprobe({"streams": [{"codec_type": "data"}], "format": {"duration": "3.0"}})
    assert info.value.code == FailureCode.NOT_MEDIA


def test_no_duration_is_truncated() -> None:
    data = captured("ffprobe_good_mp4.json")
    del data["format"]["duration"]
    for stream in data["streams"]:
        stream.pop("duration")
    with pytest.raises(ProbeFailed) as info:
        parse_ffprobe(data)
    assert info.value.code == FailureCode.TRUNCATED_MEDIA


def test_a_time_base_reported_as_frame_rate_falls_back_to_the_average() -> None:
    data = captured("ffprobe_good_mp4.json")
    _video(data).update(r_frame_rate="1000/1", avg_frame_rate="7320/1000")
    probe = parse_ffprobe(data)
    assert probe.video is not None and probe.video.variable_frame_rate
    assert probe.video.fps == pytest.approx(7.32) and probe.video.avg_fps == pytest.approx(7.32)


def _audio_tracks(*defaults: int) -> list[dict[str, Any]]:
    return [{"codec_type": "audio", "disposition": {"default": d}} for d in defaults]


def test_one_audio_track_is_the_only_choice() -> None:
    assert choose_audio_track(_audio_tracks(0)) == (0, AudioTrackChoice.ONLY)
    assert choose_audio_track([]) == (0, AudioTrackChoice.ONLY)


def test_the_default_audio_track_wins_when_it_carries_sound() -> None:
    assert choose_audio_track(_audio_tracks(0, 1), [-30.0, -25.0]) == (1, AudioTrackChoice.DEFAULT)
    assert choose_audio_track(_audio_tracks(0, 1)) == (1, AudioTrackChoice.DEFAULT)  # levels not measured


def test_a_silent_default_track_gives_way_to_the_first_with_sound() -> None:
    levels = [-91.0, -70.0, -28.0, -26.0]
    assert choose_audio_track(_audio_tracks(1, 0, 0, 0), levels) == (2, AudioTrackChoice.FIRST_WITH_SOUND)
    assert choose_audio_track(_audio_tracks(0, 0), [-40.0, -20.0]) == (0, AudioTrackChoice.FIRST_WITH_SOUND)


def test_all_tracks_silent_keeps_the_default_and_says_so() -> None:
    assert choose_audio_track(_audio_tracks(0, 1), [-90.0, -95.0]) == (1, AudioTrackChoice.FIRST)
    assert choose_audio_track(_audio_tracks(0, 0), [-90.0, -math.inf]) == (0, AudioTrackChoice.FIRST)


def test_the_chosen_audio_track_is_described() -> None:
    data = captured("ffprobe_good_mp4.json")
    second = copy.deepcopy(next(s for s in data["streams"] if s["codec_type"] == "audio"))
    second.update(codec_name="opus", sample_rate="48000", index=2, disposition={"default": 0})
    data["streams"].append(second)
    probe = parse_ffprobe(data, levels_dbfs=[-95.0, -30.0])
    assert probe.audio is not None
    assert (probe.audio.codec, probe.audio.sample_rate, probe.audio.track, probe.audio.track_count) == (
        "opus",
        48000,
        1,
        2,
    )
    assert probe.audio.track_choice == AudioTrackChoice.FIRST_WITH_SOUND


def test_measured_frame_times_decide_the_rate_of_matroska() -> None:
    data = captured("ffprobe_good_mp4.json")
    steady = [i * 0.1 for i in range(30)]
    jittery = [0.0, 0.1, 0.2, 0.5, 0.6, 0.7, 0.8, 1.2, 1.3]
    probe = parse_ffprobe(data, frame_times=steady)
    assert probe.video is not None and not probe.video.variable_frame_rate
    assert probe.video.avg_fps == pytest.approx(10.0)
    probe = parse_ffprobe(data, frame_times=jittery)
    assert probe.video is not None and probe.video.variable_frame_rate
    assert probe.video.avg_fps == pytest.approx(8 / 1.3, abs=1e-3)
    assert measured_rate([0.0, 0.1]) is None  # too few frames to tell


def test_a_codec_the_decoder_lacks_is_refused_by_name() -> None:
    probe = parse_ffprobe(captured("ffprobe_audio_m4a.json"))
    require_decoders(probe)  # aac decodes
    assert probe.audio is not None
    odd = probe.model_copy(update={"audio": probe.audio.model_copy(update={"codec": "codec2"})})
    with pytest.raises(ProbeFailed) as info:
        require_decoders(odd)
    assert info.value.code == FailureCode.UNSUPPORTED_CODEC and "'codec2'" in info.value.message
