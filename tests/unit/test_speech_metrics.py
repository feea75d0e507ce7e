# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""Speaking behaviour, fillers and timed text on inputs whose answer is known by construction:
word lists with chosen gaps, tones with a chosen pitch and loudness, transcripts with chosen fillers."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from services.speech.cer import character_error_rate, character_errors, normalise_zh, numeral_value
from services.speech.engines import encoded_frames, parallelism, pick_language, speech_chunks
from services.speech.fillers import filler_word_indexes, find_fillers, initial_prompt
from services.speech.metrics import (
    energy_variation_db,
    find_pauses,
    longest_unworded_speech_s,
    pitch_track,
    pitch_variation_semitones,
    speaking_behaviour,
)
from services.speech.settings import SpeechSettings
from services.speech.stage import BadAudio, decode_wav
from services.speech.text import TimedText, TimedWord
from services.speech.wer import normalise_en, word_error_rate, word_errors

SR = 16_000


def _tone(freq_hz: np.ndarray | float, seconds: float, amplitude: np.ndarray | float = 0.3) -> np.ndarray:
    n = int(seconds * SR)
    freq = np.broadcast_to(np.asarray(freq_hz, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(freq) / SR
    voiced = np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)  # a few harmonics, like a voice
    return (np.asarray(amplitude) * voiced / 1.6).astype(np.float32)


def _words(spec: list[tuple[str, float, float]]) -> list[TimedWord]:
    return [TimedWord(text, start, end) for text, start, end in spec]


def test_pauses_rates_and_time_to_first_word_follow_the_word_times() -> None:
    # 12 words over 6 s of speaking time, first word at 1.5 s, pauses of 0.8 s and 1.2 s (and a 0.3 s gap)
    words = _words(
        [(" w", 1.5 + 0.4 * i, 1.5 + 0.4 * i + 0.35) for i in range(4)]
        + [(" w", 3.85 + 0.4 * i, 3.85 + 0.4 * i + 0.35) for i in range(4)]  # after a 0.8 s pause
        + [(" w", 6.6 + 0.3 * i, 6.6 + 0.3 * i + 0.25) for i in range(4)]  # after 1.2 s... see below
    )
    behaviour = speaking_behaviour(words, np.zeros(10 * SR, np.float32), 10.0, filler_count=2, min_pause_s=0.5)
    gaps = [round(p.duration_s, 2) for p in behaviour.pauses]
    assert gaps == [0.8, 1.2]
    assert behaviour.pause_longest_s == pytest.approx(1.2)
    assert behaviour.pause_mean_s == pytest.approx(1.0)
    assert behaviour.pause_ratio == pytest.approx(0.2)
    assert behaviour.time_to_first_word_s == pytest.approx(1.5)
    speaking = words[-1].end_s - 1.5
    assert behaviour.speaking_time_s == pytest.approx(speaking)
    assert behaviour.wpm == pytest.approx(12 / speaking * 60)
    assert behaviour.filler_rate == pytest.approx(2 / speaking * 60)
    assert find_pauses(words, 1.0) == [behaviour.pauses[1]]


def test_chinese_rate_counts_characters() -> None:
    words = _words([("我们", 0.0, 0.5), ("上线", 0.5, 1.0), ("了。", 1.0, 1.5), ("API", 1.5, 2.0)])
    behaviour = speaking_behaviour(words, np.zeros(SR * 2, np.float32), 2.0, 0)
    assert behaviour.word_count == 6  # five Han characters and one Latin word
    assert behaviour.wpm == pytest.approx(6 / 2.0 * 60)
    assert behaviour.cpm == pytest.approx(8 / 2.0 * 60)  # five characters plus the three letters of API


def test_silence_has_no_rates_and_no_prosody() -> None:
    behaviour = speaking_behaviour([], np.zeros(SR * 3, np.float32), 3.0, 0)
    assert (behaviour.wpm, behaviour.pauses, behaviour.time_to_first_word_s) == (0.0, [], None)
    assert behaviour.pitch_variation_st is None and behaviour.energy_variation_db is None


@pytest.mark.parametrize("f0", [95.0, 180.0, 260.0])
def test_pitch_of_a_steady_voice_is_found_and_does_not_vary(f0: float) -> None:
    audio = np.concatenate([np.zeros(SR // 2, np.float32), _tone(f0, 2.0), np.zeros(SR // 2, np.float32)])
    track = pitch_track(audio)
    assert np.median(track) == pytest.approx(f0, rel=0.01)
    assert pitch_variation_semitones(audio) == pytest.approx(0.0, abs=0.05)


def test_pitch_variation_measures_intonation_in_semitones() -> None:
    t = np.arange(3 * SR) / SR
    semitones = 3.0 * np.sin(2 * np.pi * 0.7 * t)  # lively: +-3 semitones, std 2.12
    lively = pitch_variation_semitones(_tone(160.0 * 2 ** (semitones / 12), 3.0))
    flat = pitch_variation_semitones(_tone(160.0 * 2 ** (0.3 * semitones / 12), 3.0))
    assert lively == pytest.approx(np.std(semitones), rel=0.1)
    assert flat is not None and flat < 0.35 * lively


def test_energy_variation_measures_loudness_changes_in_db() -> None:
    t = np.arange(4 * SR) / SR
    steps = np.where(t < 2.0, 1.0, 0.1)  # 20 dB step: std 10 dB
    assert energy_variation_db(_tone(150.0, 4.0, 0.3 * steps)) == pytest.approx(10.0, abs=0.7)
    assert energy_variation_db(_tone(150.0, 4.0)) == pytest.approx(0.0, abs=0.5)
    assert energy_variation_db(np.zeros(SR, np.float32)) is None


def test_english_fillers_count_only_where_they_are_fillers() -> None:
    text = TimedText.from_plain(
        "Um, so I have done a lot. Like, backend stuff, you know, some frontend. Uh, I like Python and you know it."
    )
    found = find_fillers(text, "en")
    assert [f.text for f in found] == ["Um", "Like", "you know", "Uh"]
    assert all(f.start_s < f.end_s for f in found)
    flagged = [text.words[i].text.strip(" ,.") for i in sorted(filler_word_indexes(text, found))]
    assert flagged == ["Um", "Like", "you", "know", "Uh"]
    within = TimedText.from_plain("It was fine and you know, I mean, we shipped. Do you know, he asked. I mean it.")
    assert [f.text for f in find_fillers(within, "en")] == ["you know", "I mean"]


def test_chinese_fillers_are_found_with_jieba() -> None:
    text = TimedText.from_plain("嗯，就是说，我那个时候然后去做了复盘报告。呃，好的。")
    assert [f.text for f in find_fillers(text, "zh")] == ["嗯", "就是说", "那个", "然后", "呃"]


def test_prompts_set_the_style_per_language() -> None:
    assert initial_prompt("en", False) is None
    assert "um" in (initial_prompt("en", True) or "").lower()
    assert (initial_prompt("zh", False) or "").startswith("以下是普通话的句子")
    assert "嗯" in (initial_prompt("zh", True) or "")


def test_language_is_chosen_among_the_allowed_ones() -> None:
    probabilities = {"nn": 0.5, "en": 0.3, "zh": 0.1, "de": 0.1}
    language, probability = pick_language(probabilities, ["en", "zh"])
    assert language == "en" and probability == pytest.approx(0.75)
    assert pick_language(probabilities, [])[0] == "nn"


def test_speech_is_cut_into_chunks_of_one_window_at_silences() -> None:
    window = 30 * SR
    speech = [(0, 10 * SR), (11 * SR, 25 * SR), (26 * SR, 40 * SR), (41 * SR, 45 * SR)]
    # a chunk spans consecutive speech (silences between included) as long as it fits one window
    assert speech_chunks(speech, window) == [(0, 25 * SR), (26 * SR, 45 * SR)]
    # speech longer than a window is cut into windows
    assert speech_chunks([(SR, 71 * SR)], window) == [(SR, 31 * SR), (31 * SR, 61 * SR), (61 * SR, 71 * SR)]
    assert speech_chunks([], window) == []


def _padded(*filled_frames: int) -> np.ndarray:
    """A batch of 30 s feature windows (80 mel bins), each filled up to its frame count, zero-padded after."""
    batch = np.zeros((len(filled_frames), 80, 3000), dtype=np.float32)
    for i, frames in enumerate(filled_frames):
        batch[i, :, :frames] = -0.7  # normalised log-mel of quiet audio: never exactly zero
    return batch


def test_windows_are_encoded_as_long_as_their_longest_speech_rounded_up() -> None:
    # the longest window of the batch decides, rounded up to whole steps of 5 s
    assert encoded_frames(_padded(1234, 2210), 5) == 2500
    assert encoded_frames(_padded(2000), 5) == 2000
    assert encoded_frames(_padded(2001), 5) == 2500
    # at least 10 s, never more than the window
    assert encoded_frames(_padded(150), 5) == 1000
    assert encoded_frames(_padded(2990), 7) == 3000
    assert encoded_frames(_padded(0), 5) == 1000
    # a quiet frame in the middle is not padding: only trailing zeros are
    batch = _padded(2600)
    batch[0, :, 1500:1800] = 0.0
    assert encoded_frames(batch, 5) == 3000
    # step 0: padded to 30 s as trained
    assert encoded_frames(_padded(1234), 0) == 3000


def test_segments_run_side_by_side_one_thread_each_on_cpu() -> None:
    auto = SpeechSettings()
    assert parallelism(auto, "cpu", 2) == (2, 1)
    assert parallelism(auto, "cpu", 8) == (8, 1)
    assert parallelism(SpeechSettings(workers=2), "cpu", 8) == (2, 4)  # the cores shared among the workers
    assert parallelism(SpeechSettings(workers=4), "cpu", 2) == (4, 1)
    assert parallelism(SpeechSettings(workers=1, cpu_threads=3), "cpu", 8) == (1, 3)
    assert parallelism(auto, "cuda", 8) == (1, 0)  # one stream of batches on a GPU


def test_word_error_rate_counts_recognition_errors_not_spelling() -> None:
    script = "I've seen twenty percent of 3,000 requests fail; afterwards I wrote the postmortem on their behaviour."
    written = "I have seen 20% of three thousand requests fail. Afterwards, I wrote the post-mortem on their behavior."
    assert word_errors(script, written) == (0, 18)
    spelled = "p ninety nine was one hundred and sixty ms it will not"
    assert normalise_en("p99 was 160 ms, it won't") == spelled.split(" ")
    assert word_errors("a frontend and a back end", "a front end and a backend") == (0, 6)
    # real errors still count: a homophone, a lost word, a split that is not the same word
    assert word_errors("we cached the ten most common queries", "we cashed the ten most common") == (2, 7)
    assert word_error_rate("um I led the migration", "I led a migration") == pytest.approx(2 / 5)
    assert word_error_rate("", "") == 0.0
    assert word_errors("and mister john dashwood", "And Mr. John Dashwood") == (0, 4)


def test_character_error_rate_counts_recognition_errors_not_script_or_numerals() -> None:
    # Traditional characters, digits for spelled numerals, punctuation: the same words
    assert character_errors("一二线城市虽然也处于调整中", "1、2線城市雖然也處於調整中。") == (0, 13)
    assert character_errors("延迟降低了百分之四十", "延遲降低了40%") == (0, 8)
    assert normalise_zh("二〇二四年有三十五个人") == [*"2024年有35个人"]
    assert normalise_zh("我用 Kafka 和ＡＰＩ，百姓") == ["我", "用", "kafka", "和", "api", "百", "姓"]
    assert [numeral_value(n) for n in ("十二", "一百零五", "两千零一十七", "三万五千")] == [12, 105, 2017, 35000]
    # real errors still count: a wrong character, a lost one, a wrong number
    assert character_errors("甚至出现交易几乎停滞的情况", "甚至出现交易几乎停制的情况") == (1, 13)
    assert character_error_rate("三十五个人", "三十六人") == pytest.approx(2 / 4)
    assert character_error_rate("", "") == 0.0


def test_timed_text_maps_sentences_back_to_word_times() -> None:
    words = _words([(" We", 1.0, 1.2), (" shipped.", 1.2, 1.8), (" It", 3.0, 3.1), (" worked!", 3.1, 3.5)])
    sentences = list(TimedText(words).sentences())
    assert [(s.text, s.start_s, s.end_s) for s in sentences] == [("We shipped.", 1.0, 1.8), ("It worked!", 3.0, 3.5)]
    zh = list(TimedText.from_plain("我们上线了。效果很好！").sentences())
    assert [s.text for s in zh] == ["我们上线了。", "效果很好！"]


def _wav(samples: np.ndarray, rate: int = SR, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((samples * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def test_wav_segments_are_decoded_and_bad_ones_refused() -> None:
    tone = _tone(200.0, 0.5)
    assert np.allclose(decode_wav(_wav(tone)), tone, atol=1e-4)
    with pytest.raises(BadAudio, match="expected 16 kHz mono"):
        decode_wav(_wav(tone, rate=8000))
    with pytest.raises(BadAudio, match="not a WAV"):
        decode_wav(b"RIFF\x00\x00garbage" * 10)


def test_speech_left_without_words_is_measured() -> None:
    # 1 s silence, 6 s voice, 1 s silence; words cover only the first 2 s of the voice
    audio = np.concatenate([np.zeros(SR, np.float32), _tone(150.0, 6.0), np.zeros(SR, np.float32)])
    words = _words([(" a", 1.0, 1.9), (" b", 2.0, 3.0)])
    assert longest_unworded_speech_s(words, audio) == pytest.approx(7.0 - 3.3, abs=0.05)
    covered = _words([(" a", 1.0, 3.0), (" b", 3.2, 5.0), (" c", 5.2, 7.0)])
    assert longest_unworded_speech_s(covered, audio) == 0.0
    # short pauses between phrases of a skipped passage do not split it: its speech adds up
    phrases = [np.zeros(SR, np.float32)] + [np.concatenate([_tone(150.0, 1.0), np.zeros(SR // 4, np.float32)])] * 4
    assert longest_unworded_speech_s([], np.concatenate(phrases)) == pytest.approx(4.0, abs=0.1)


def test_words_stretched_over_a_skipped_passage_do_not_cover_it() -> None:
    # Whisper skipped the first 4 s of voice and spread its next words over them.
    audio = np.concatenate([np.zeros(SR, np.float32), _tone(150.0, 6.0), np.zeros(SR, np.float32)])
    stretched = _words([(" i", 1.0, 1.8), (" was", 1.8, 4.6), (" on", 4.6, 5.0), (" call", 5.2, 7.0)])
    assert longest_unworded_speech_s(stretched, audio) == pytest.approx(4.6 - 1.8 - 0.3 * 2, abs=0.1)
    # a last word drawn out over silence counts only its own voice (0.7 s), far below a skipped passage
    trailing = np.concatenate([np.zeros(SR, np.float32), _tone(150.0, 2.0), np.zeros(4 * SR, np.float32)])
    assert longest_unworded_speech_s(_words([(" a", 1.0, 2.0), (" b", 2.1, 6.5)]), trailing) == pytest.approx(
        3.0 - 2.3, abs=0.05
    )
