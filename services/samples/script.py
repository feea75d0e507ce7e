# ruff: noqa: RUF001  (full-width Chinese punctuation on purpose)
"""The scenario of a synthetic interview, as pure functions (no audio, no ffmpeg).

:func:`build_scenario` turns a :class:`SampleSpec` into a :class:`GroundTruth`: which questions are asked when,
what the candidate says phrase by phrase (fillers and pauses included), and the head-motion / scene events.
It needs the length of each speech clip; the real generator passes the length of the synthesised audio, tests
can pass :func:`estimate_clip_seconds` and stay free of TTS.

Every random choice comes from ``random.Random(seed)`` in a fixed order, so a spec always yields the same truth.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from services.samples.bank import BANK, BankItem
from services.samples.blinks import schedule_blinks
from services.samples.ground_truth import (
    Events,
    Filler,
    GroundTruth,
    LookAway,
    Nod,
    NoFace,
    Pause,
    QuestionTruth,
    SecondFace,
    Segment,
    Shake,
    SpeechTruth,
    Subject,
    TimeRange,
    Utterance,
    Word,
)
from services.samples.spec import Lang, SampleSpec

Role = Literal["candidate", "interviewer"]
PieceKind = Literal["speech", "filler", "pause"]

#: Gaps at least this long inside an utterance are reported as pauses.
MIN_PAUSE_S = 0.25
#: Events stay this far from the ends of the recording and from each other.
EVENT_MARGIN_S = 0.5
#: Nothing is said in the last moments: the recording ends on silence.
TAIL_S = 0.25

FACE_SOURCE = "skimage.data.astronaut() head, segmented (public domain, NASA)"
SECOND_FACE_SOURCE = "skimage.data.astronaut() head, mirrored and re-tinted, smaller (a person behind the candidate)"


def r3(x: float) -> float:
    """Round a time to milliseconds (the truth file's resolution)."""
    return round(x + 0.0, 3)


# ---------------------------------------------------------------------------------------------------------------
# Answer markup


@dataclass(frozen=True)
class Piece:
    """One element of a scripted utterance."""

    kind: PieceKind
    text: str = ""
    seconds: float = 0.0
    #: Punctuation that ended the phrase: decides the natural gap after it.
    boundary: Literal["comma", "sentence", "none"] = "none"


_TOKEN = re.compile(r"<([^<>]+)>|\|(\d+(?:\.\d+)?)\||([^<>|]+)")
_PHRASE_END = {"en": re.compile(r"[^,.;?!]+[,.;?!]*"), "zh": re.compile(r"[^，。；？！、,.;?!]+[，。；？！、,.;?!]*")}
_SENTENCE_PUNCT = set(".?!。？！")


def parse_answer(markup: str, lang: Lang) -> list[Piece]:
    """Split scripted text into phrases, fillers (``<um>``) and pauses (``|0.8|``)."""
    pieces: list[Piece] = []
    for m in _TOKEN.finditer(markup):
        filler, pause, text = m.group(1), m.group(2), m.group(3)
        if filler is not None:
            pieces.append(Piece("filler", filler.strip(), boundary="comma"))
        elif pause is not None:
            pieces.append(Piece("pause", seconds=float(pause)))
        else:
            for pm in _PHRASE_END[lang].finditer(text):
                phrase = pm.group(0).strip()
                core = phrase.strip(",.;?!，。；？！、 ")
                if not core:
                    continue
                pieces.append(Piece("speech", phrase, boundary=_boundary(phrase)))
    return pieces


def _boundary(phrase: str) -> Literal["comma", "sentence", "none"]:
    tail = phrase.rstrip()[-1:]
    if not tail:
        return "none"
    if tail in _SENTENCE_PUNCT:
        return "sentence"
    if tail in ",;，；、":
        return "comma"
    return "none"


def spoken_form(text: str) -> str:
    """Text handed to the TTS engine: punctuation at the end is kept (it shapes the intonation)."""
    return text.strip()


def words_of(text: str, lang: Lang) -> list[str]:
    """Words (en) or Han characters (zh) of a phrase, punctuation removed."""
    if lang == "zh":
        return [c for c in text if "\u4e00" <= c <= "\u9fff"]
    return [w for w in (t.strip(",.;?!\"'") for t in text.split()) if w]


# ---------------------------------------------------------------------------------------------------------------
# Clips and their lengths


@dataclass(frozen=True)
class ClipRequest:
    """One piece of speech to synthesise. Equal requests give equal audio (and are synthesised once)."""

    lang: Lang
    role: Role
    text: str
    rate: float  # relative speaking rate, 1.0 = the voice's normal pace
    kind: Literal["speech", "filler"] = "speech"


ClipMeasure = Callable[[ClipRequest], float]


def estimate_clip_seconds(clip: ClipRequest) -> float:
    """Rough length of a clip without synthesising it (unit tests, planning)."""
    n = len(words_of(clip.text, clip.lang))
    per_unit = 0.24 if clip.lang == "zh" else 0.36
    base = max(0.25, n * per_unit) if clip.kind == "speech" else 0.3 + 0.15 * n
    return base / clip.rate


# ---------------------------------------------------------------------------------------------------------------
# Timeline of questions and answers


@dataclass(frozen=True)
class Placement:
    """A clip placed on the timeline (what the audio track is assembled from)."""

    start: float
    clip: ClipRequest


@dataclass
class Scenario:
    """The ground truth plus what the audio assembler needs."""

    truth: GroundTruth
    placements: list[Placement] = field(default_factory=list)


@dataclass
class _Utt:
    """Mutable builder for one utterance."""

    speaker: Role
    lang: Lang
    segments: list[Segment] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    marked: list[str] = field(default_factory=list)


def _utterance(b: _Utt, start: float, end: float, truncated: bool, spoken: bool = True, text: str = "") -> Utterance:
    lang = b.lang
    sep = "" if lang == "zh" else " "
    spoken_segments = [s for s in b.segments if s.kind != "pause"]
    comma = "，" if lang == "zh" else ","
    plain = text or sep.join(s.text + comma if s.kind == "filler" else s.text for s in spoken_segments)
    if lang == "en":
        plain = plain[:1].upper() + plain[1:]
    fillers = [
        Filler(start=s.start, end=s.end, text=s.text.strip(",.;?!，。、 ")) for s in b.segments if s.kind == "filler"
    ]
    pauses: list[Pause] = []
    for prev, nxt in itertools.pairwise(spoken_segments):
        if nxt.start - prev.end >= MIN_PAUSE_S:
            scripted = any(p.kind == "pause" and prev.end <= p.start < nxt.start for p in b.segments)
            pauses.append(Pause(start=prev.end, end=nxt.start, scripted=scripted))
    n_words = sum(len(words_of(s.text, lang)) for s in spoken_segments)
    dur = end - start
    rate = n_words / dur * 60.0 if dur > 0 and spoken else 0.0
    return Utterance(
        start=r3(start),
        end=r3(end),
        speaker=b.speaker,
        spoken=spoken,
        text=plain,
        text_marked=sep.join(b.marked) if b.marked else plain,
        truncated=truncated,
        segments=b.segments,
        fillers=fillers,
        pauses=pauses,
        word_count=n_words,
        speech_rate=round(rate, 1),
    )


def _words_in(text: str, lang: Lang, start: float, end: float) -> list[Word]:
    """Spread a phrase's duration over its words by length (phrase boundaries are exact)."""
    ws = words_of(text, lang)
    if not ws:
        return []
    weights = [1.0 if lang == "zh" else len(w) + 1.0 for w in ws]
    total = sum(weights)
    out: list[Word] = []
    t = start
    for w, wt in zip(ws, weights, strict=True):
        d = (end - start) * wt / total
        out.append(Word(start=r3(t), end=r3(t + d), text=w))
        t += d
    return out


class _Layout:
    """Lays utterances out on the timeline, stopping at the end of the recording."""

    def __init__(self, lang: Lang, measure: ClipMeasure, limit: float) -> None:
        self.lang = lang
        self.measure = measure
        self.limit = limit

    def speak(
        self, b: _Utt, pieces: list[Piece], t: float, rate: float, gaps: random.Random, filler_rate: float
    ) -> tuple[float, bool]:
        """Place pieces from time t. Returns (end time, truncated)."""
        for i, p in enumerate(pieces):
            if p.kind == "pause":
                if t + p.seconds > self.limit:
                    return t, True
                b.segments.append(Segment(kind="pause", start=r3(t), end=r3(t + p.seconds), scripted=True))
                b.marked.append(f"[pause {p.seconds:g}s]")
                t += p.seconds
                continue
            clip = ClipRequest(
                self.lang, b.speaker, spoken_form(p.text), filler_rate if p.kind == "filler" else rate, p.kind
            )
            d = self.measure(clip)
            if t + d > self.limit:
                return t, True
            seg = Segment(kind=p.kind, start=r3(t), end=r3(t + d), text=p.text)
            seg.words = _words_in(p.text, self.lang, seg.start, seg.end)
            b.segments.append(seg)
            b.placements.append(Placement(seg.start, clip))
            b.marked.append(f"[{p.text.strip(',.;?!，。、 ')}]" if p.kind == "filler" else p.text)
            t += d
            if i + 1 < len(pieces) and pieces[i + 1].kind != "pause":
                if p.boundary == "sentence":
                    t += gaps.uniform(0.30, 0.55)
                elif p.boundary == "comma" or p.kind == "filler":
                    t += gaps.uniform(0.12, 0.25)
                else:
                    t += gaps.uniform(0.05, 0.10)
        return t, False


def _question_order(rng: random.Random) -> Iterator[tuple[BankItem, int]]:
    repeat = 0
    while True:
        items = list(BANK)
        rng.shuffle(items)
        for it in items:
            yield it, repeat
        repeat += 1


def build_scenario(spec: SampleSpec, measure: ClipMeasure = estimate_clip_seconds) -> Scenario:
    """The full scenario (ground truth without media info) for a spec."""
    rng = random.Random(spec.seed)
    lang, cand = spec.lang, spec.candidate
    limit = spec.duration - TAIL_S
    layout = _Layout(lang, measure, limit)

    # Speaking rate per bank answer, drawn once so that repeats in long recordings reuse the same audio.
    lo, hi = (0.95, 1.10) if cand == "strong" else (0.82, 0.95)
    rates = {it.bank_id: round(rng.uniform(lo, hi), 2) for it in BANK}
    filler_rate = 0.8

    questions: list[QuestionTruth] = []
    placements: list[Placement] = []
    t = rng.uniform(0.4, 0.9)
    for index, (item, repeat) in enumerate(_question_order(rng)):
        q_start = t
        qb = _Utt("interviewer", lang)
        if spec.interviewer_voice:
            q_end, q_trunc = layout.speak(qb, parse_answer(item.question[lang], lang), t, 1.0, rng, filler_rate)
            q_utt = _utterance(qb, q_start, q_end, q_trunc)
        else:
            # The question is shown on screen; the candidate reads it in silence.
            q_end = q_start + min(4.0, 1.2 + 0.03 * len(item.question[lang]))
            q_trunc = q_end > limit
            q_utt = _utterance(qb, q_start, min(q_end, limit), q_trunc, spoken=False, text=item.question[lang])
        if q_trunc:
            break
        think = rng.uniform(0.6, 1.2) if cand == "strong" else rng.uniform(1.0, 2.0)
        a_start = q_end + think
        ab = _Utt("candidate", lang)
        a_end, a_trunc = layout.speak(
            ab, parse_answer(item.answer(lang, cand), lang), a_start, rates[item.bank_id], rng, filler_rate
        )
        if not any(s.kind != "pause" for s in ab.segments):
            break
        # A cut answer ends with what was still audible.
        a_end = max(s.end for s in ab.segments if s.kind != "pause") if a_trunc else a_end
        ab.segments = [s for s in ab.segments if s.start < a_end]
        answer = _utterance(ab, a_start, a_end, a_trunc)
        qid = f"q{index + 1:02d}"
        questions.append(
            QuestionTruth(
                start=r3(q_start),
                end=r3(a_end),
                question_id=qid,
                bank_id=item.bank_id,
                index=index,
                repeat=repeat,
                question=q_utt,
                answer=answer,
            )
        )
        placements += qb.placements + ab.placements
        if a_trunc:
            break
        t = a_end + rng.uniform(0.8, 1.6)
        if t >= limit:
            break

    events = schedule_events(spec, random.Random(spec.seed * 7919 + 17))
    if spec.blinks:
        events.blinks = schedule_blinks(spec.duration, spec.seed)
    truth = GroundTruth(
        spec=spec,
        lang=lang,
        duration_s=r3(spec.duration),
        subject=Subject(
            variant=spec.variant,
            smiling=spec.variant == "smiling",
            face_source=FACE_SOURCE
            + ("" if spec.variant == "smiling" else "; mouth repainted closed and straight (neutral)"),
            second_face_source=SECOND_FACE_SOURCE,
        ),
        questions=questions,
        events=events,
        speech=SpeechTruth(
            candidate=_merge([s for q in questions for s in q.answer.segments if s.kind != "pause"]),
            interviewer=_merge([s for q in questions for s in q.question.segments if s.kind != "pause"]),
        ),
    )
    return Scenario(truth=truth, placements=sorted(placements, key=lambda p: p.start))


def _merge(segments: list[Segment], join_gap: float = MIN_PAUSE_S) -> list[TimeRange]:
    """Speaking ranges: segments closer than join_gap are merged."""
    out: list[TimeRange] = []
    for s in sorted(segments, key=lambda s: s.start):
        if out and s.start - out[-1].end < join_gap:
            out[-1] = TimeRange(start=out[-1].start, end=max(out[-1].end, s.end))
        else:
            out.append(TimeRange(start=s.start, end=s.end))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Head motion and scene events

EventKind = Literal["nod", "shake", "look_away", "no_face", "second_face"]
#: Every recording long enough gets one of each, in this priority order.
GUARANTEED: tuple[EventKind, ...] = ("nod", "no_face", "second_face", "look_away", "shake")
#: Extra events per minute of recording.
RATE_PER_MIN: dict[EventKind, float] = {
    "nod": 1.5,
    "shake": 0.4,
    "look_away": 1.2,
    "no_face": 0.08,
    "second_face": 0.08,
}


@dataclass
class _Draft:
    kind: EventKind
    length: float
    params: dict[str, float | str]


def _draft(kind: EventKind, rng: random.Random, compact: bool, second_side: str) -> _Draft:
    side: str = rng.choice(["left", "right"])
    if kind == "nod":
        count = 2 if compact else rng.randint(2, 4)
        period = 0.6 if compact else round(rng.uniform(0.45, 0.8), 3)
        amp = round(rng.uniform(0.035, 0.045), 4)
        return _Draft(kind, count * period, {"count": count, "period_s": period, "amplitude": amp})
    if kind == "shake":
        count = 2 if compact else rng.randint(2, 3)
        period = 0.6 if compact else round(rng.uniform(0.5, 0.8), 3)
        amp = round(rng.uniform(0.035, 0.05), 4)
        return _Draft(kind, count * period, {"count": count, "period_s": period, "amplitude": amp})
    if kind == "look_away":
        length = 1.2 if compact else round(rng.uniform(1.0, 3.0), 3)
        return _Draft(kind, length, {"direction": side, "turn_s": 0.25})
    if kind == "no_face":
        absent = 1.5 if compact else round(rng.uniform(1.5, 4.0), 3)
        return _Draft(kind, absent + 1.0, {"side": side, "move_s": 0.5})
    visible = 1.5 if compact else round(rng.uniform(1.5, 4.0), 3)
    return _Draft(kind, visible + 0.8, {"side": second_side, "move_s": 0.4})


#: Seconds of recording per event when the script holds only gestures or only look-aways.
FOCUSED_EVENT_SPACING_S = {"gestures": 3.0, "gaze": 5.0}
#: Shortest look-away a gaze-only script holds (turns excluded), well above the shortest episode vision reports.
FOCUSED_LOOK_MIN_S = 1.5


def _drafts(spec: SampleSpec, rng: random.Random, second_side: str) -> list[_Draft]:
    """The events the spec's mix asks for, most important first."""
    window = spec.duration - 2 * EVENT_MARGIN_S
    if spec.events == "still":
        return []
    if spec.events in FOCUSED_EVENT_SPACING_S:
        n = max(1, int(window // FOCUSED_EVENT_SPACING_S[spec.events]))
        if spec.events == "gestures":  # nods and shakes taking turns
            return [_draft("nod" if i % 2 == 0 else "shake", rng, False, second_side) for i in range(n)]
        drafts = [_draft("look_away", rng, False, second_side) for _ in range(n)]
        for d in drafts:
            d.length = max(d.length, FOCUSED_LOOK_MIN_S + 2 * float(d.params["turn_s"]))
        return drafts
    compact = spec.duration < 30.0
    drafts = [_draft(k, rng, compact, second_side) for k in GUARANTEED]
    minutes = spec.duration / 60.0
    if not compact:
        for kind, rate in RATE_PER_MIN.items():
            extra = max(0, round(rate * minutes) - 1)
            drafts += [_draft(kind, rng, False, second_side) for _ in range(extra)]
    return drafts


def schedule_events(spec: SampleSpec, rng: random.Random) -> Events:
    """Non-overlapping head-motion and scene events inside the recording."""
    window = spec.duration - 2 * EVENT_MARGIN_S
    # The second person leans in on the bookshelf side of the room (the framed picture hangs on the other).
    second_side = "right" if spec.seed % 2 == 0 else "left"
    drafts = _drafts(spec, rng, second_side)
    # Drop from the end (lowest priority first) until everything fits with margins between events.
    while drafts and sum(d.length for d in drafts) + EVENT_MARGIN_S * (len(drafts) - 1) > window:
        drafts.pop()
    rng.shuffle(drafts)
    slack = window - sum(d.length for d in drafts) - EVENT_MARGIN_S * max(0, len(drafts) - 1)
    weights = [rng.random() + 0.05 for _ in range(len(drafts) + 1)]
    total_w = sum(weights)
    events = Events()
    t = EVENT_MARGIN_S
    for d, w in zip(drafts, weights, strict=False):
        t += slack * w / total_w
        _emit(events, d, t)
        t += d.length + EVENT_MARGIN_S
    for lst in (events.nods, events.shakes, events.look_aways):
        lst.sort(key=lambda e: e.start)
    events.no_face.sort(key=lambda e: e.start)
    events.second_face.sort(key=lambda e: e.start)
    return events


def _emit(events: Events, d: _Draft, t: float) -> None:
    p = d.params
    if d.kind == "nod":
        events.nods.append(
            Nod(
                start=r3(t),
                end=r3(t + d.length),
                count=int(p["count"]),
                period_s=float(p["period_s"]),
                amplitude=float(p["amplitude"]),
            )
        )
    elif d.kind == "shake":
        events.shakes.append(
            Shake(
                start=r3(t),
                end=r3(t + d.length),
                count=int(p["count"]),
                period_s=float(p["period_s"]),
                amplitude=float(p["amplitude"]),
            )
        )
    elif d.kind == "look_away":
        direction = "left" if p["direction"] == "left" else "right"
        events.look_aways.append(
            LookAway(start=r3(t), end=r3(t + d.length), direction=direction, turn_s=float(p["turn_s"]))
        )
    elif d.kind == "no_face":
        m = float(p["move_s"])
        side = "left" if p["side"] == "left" else "right"
        events.no_face.append(
            NoFace(start=r3(t + m), end=r3(t + d.length - m), side=side, leave_start=r3(t), back_end=r3(t + d.length))
        )
    else:
        m = float(p["move_s"])
        side = "left" if p["side"] == "left" else "right"
        events.second_face.append(
            SecondFace(
                start=r3(t + m), end=r3(t + d.length - m), side=side, enter_start=r3(t), exit_end=r3(t + d.length)
            )
        )
