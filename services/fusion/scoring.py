"""The scoring model: from per-answer measures to dimension scores, an overall score and a suggested label.

Every dimension is a weighted mean of 0-1 *component* scores; a component without data drops out and
the weights of the rest are renormalised, and the share of weight that had data becomes part of the
dimension's confidence. Each component maps a raw measure through a band: inside the good band it scores
1, it falls linearly to 0 at the bad limit. The bands are conventions from interview-coaching practice
(for example 120-165 words per minute is comfortable English, 180-280 characters per minute Mandarin)
and are versioned with `SCORING_MODEL_VERSION`: change a band, bump the version, since scores are only
comparable within one version.

Behaviour dimensions describe *how* the candidate answered; competency dimensions come from speech's
answer scores against the job's model. The label is only a suggestion: `needs_human_review` stays true.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.common.contracts import (
    ConsentScope,
    DataQualityFlag,
    DimensionKind,
    DimensionScore,
    Evidence,
    EvidenceKind,
    Explanation,
    MediaFlag,
    ProfileLabel,
    VisionFeatures,
)
from services.fusion.behaviour import AnswerBehaviour, answers
from services.fusion.explanation import explain, switched_off_components
from services.fusion.found import search_flags
from services.fusion.inputs import InterviewInputs
from services.fusion.settings import FusionSettings
from services.ingest.policy import may_extract_audio, may_extract_video

SCORING_MODEL_VERSION = "2026.11.2"

COMMUNICATION = "communication"
CONFIDENCE = "confidence"
EMOTIONAL_STABILITY = "emotional_stability"
EXPRESSION_POSITIVITY = "expression_positivity"
LOGIC_STRUCTURE = "logic_structure"
BEHAVIOUR_DIMENSIONS = (COMMUNICATION, CONFIDENCE, EMOTIONAL_STABILITY, EXPRESSION_POSITIVITY, LOGIC_STRUCTURE)

MIN_WORDS = 20  # an answer shorter than this says little about anything spoken
MAX_EVIDENCE = 6


def band(value: float | None, good: tuple[float, float], bad: tuple[float, float]) -> float | None:
    """1 inside [good], falling linearly to 0 at the bad limits (bad[0] <= good[0] <= good[1] <= bad[1])."""
    if value is None:
        return None
    lo_good, hi_good = good
    lo_bad, hi_bad = bad
    if lo_good <= value <= hi_good:
        return 1.0
    if value < lo_good:
        return max(0.0, (value - lo_bad) / (lo_good - lo_bad)) if lo_good > lo_bad else 0.0
    return max(0.0, (hi_bad - value) / (hi_bad - hi_good)) if hi_bad > hi_good else 0.0


def lower_better(value: float | None, good: float, bad: float) -> float | None:
    return band(value, (float("-inf"), good), (float("-inf"), bad))


def higher_better(value: float | None, good: float, bad: float) -> float | None:
    return band(value, (good, float("inf")), (bad, float("inf")))


@dataclass(frozen=True)
class Component:
    name: str
    weight: float
    value: float | None


@dataclass(frozen=True)
class Scored:
    score: float  # 0-100
    coverage: float  # share of component weight that had data


def _active(inputs: InterviewInputs, components: Sequence[Component]) -> list[Component]:
    """The components the candidate's accommodations leave on (services/fusion/explanation.py): the others are
    dropped, not counted as missing, so what was not looked at neither lowers nor raises a score."""
    off = switched_off_components(inputs)
    return [c for c in components if c.name not in off]


def combine(components: Sequence[Component]) -> Scored | None:
    total = sum(c.weight for c in components)
    present = [c for c in components if c.value is not None]
    weight = sum(c.weight for c in present)
    if not present or weight <= 0:
        return None
    score = sum(c.weight * (c.value or 0.0) for c in present) / weight
    return Scored(round(100.0 * score, 1), weight / total if total else 0.0)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _is_chinese(locale: str | None) -> bool:
    return bool(locale) and str(locale).lower().startswith("zh")


def _rate_component(a: AnswerBehaviour) -> float | None:
    if a.speech is None or a.words < MIN_WORDS // 2:
        return None
    language = a.speech.language or ""
    if _is_chinese(language):
        return band(a.speech.metrics.cpm, (180, 280), (90, 400))
    return band(a.speech.metrics.wpm, (120, 165), (60, 230))


def _spoken(a: AnswerBehaviour) -> bool:
    return a.speech is not None and a.words > 0


def _liveliness(a: AnswerBehaviour) -> float | None:
    if a.speech is None:
        return None
    pitch = higher_better(a.speech.metrics.pitch_variation, 2.0, 0.5)
    energy = higher_better(a.speech.metrics.energy_variation, 4.0, 1.0)
    return _mean([pitch, energy])


# ---- evidence ----------------------------------------------------------------------------------------------


def _moment(a: AnswerBehaviour, text: str, start: float | None = None, end: float | None = None) -> Evidence:
    s = a.question.start_s if start is None else start
    e = a.question.end_s if end is None else end
    return Evidence(kind=EvidenceKind.MOMENT, start_s=s, end_s=max(s, e), text=text[:1000])


def _key_frame(inputs: InterviewInputs, a: AnswerBehaviour, caption: str) -> Evidence | None:
    ref = inputs.keyframes.get(f"{a.question.question_id}-middle")
    if ref is None:
        return None
    t = (a.question.start_s + a.question.end_s) / 2
    return Evidence(kind=EvidenceKind.KEY_FRAME, start_s=t, end_s=t, text=caption[:1000], object=ref)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"


def _speech_caption(a: AnswerBehaviour, off: frozenset[str] = frozenset()) -> str:
    """What a reviewer sees of the answer's speaking and eye contact, without what an accommodation left out."""
    parts = []
    if a.speech is None:
        parts.append("no speech analysed")
    elif "rate" not in off:
        m = a.speech.metrics
        rate = f"{m.cpm:.0f} characters/min" if _is_chinese(a.speech.language) else f"{m.wpm:.0f} words/min"
        parts.append(f"{rate}, {m.filler_rate:.1f} fillers/min, pauses {_pct(m.pause_ratio)} of the answer")
    if a.speech is not None and "eye_contact" not in off:
        parts.append(f"eye contact {_pct(a.eye_contact)}")
    return f"{a.question.question_id}: {', '.join(parts) or 'see the answer'}"


def _extremes(
    items: Sequence[AnswerBehaviour], key: Callable[[AnswerBehaviour], float | None]
) -> list[AnswerBehaviour]:
    """The best and the worst answer by `key` (the moments a reviewer should watch first)."""
    rated = [(k, a) for a in items if (k := key(a)) is not None]
    if not rated:
        return []
    rated.sort(key=lambda t: t[0])
    picks = [rated[-1][1]] if len(rated) == 1 else [rated[-1][1], rated[0][1]]
    return picks


# ---- dimensions --------------------------------------------------------------------------------------------


@dataclass
class _Dimension:
    name: str
    kind: DimensionKind
    scored: Scored | None
    confidence: float
    evidence: list[Evidence]

    def to_contract(self) -> DimensionScore | None:
        if self.scored is None:
            return None
        return DimensionScore(
            dimension=self.name,
            kind=self.kind,
            score=max(0.0, min(100.0, self.scored.score)),
            confidence=round(max(0.0, min(1.0, self.confidence)), 3),
            evidence=self.evidence[:MAX_EVIDENCE],
        )


def _per_answer(
    items: Sequence[AnswerBehaviour], components: Callable[[AnswerBehaviour], Sequence[Component]]
) -> tuple[Scored | None, float]:
    """Mean over answers of each answer's combined score, weighted by answer length; and the coverage."""
    scored = [(s, max(a.question.end_s - a.question.start_s, 1.0)) for a in items if (s := combine(components(a)))]
    if not scored:
        return None, 0.0
    weight = sum(w for _, w in scored)
    score = sum(s.score * w for s, w in scored) / weight
    coverage = sum(s.coverage * w for s, w in scored) / weight
    answered = len(scored) / max(len(items), 1)
    return Scored(round(score, 1), coverage), coverage * answered


def _communication(inputs: InterviewInputs, items: Sequence[AnswerBehaviour]) -> _Dimension:
    def components(a: AnswerBehaviour) -> list[Component]:
        m = a.speech.metrics if _spoken(a) and a.speech is not None else None
        return _active(
            inputs,
            [
                Component("rate", 0.3, _rate_component(a)),
                Component("fillers", 0.25, lower_better(m.filler_rate, 2.0, 12.0) if m else None),
                Component("pauses", 0.15, band(m.pause_ratio, (0.05, 0.3), (0.0, 0.65)) if m else None),
                Component("start", 0.1, lower_better(m.time_to_first_word_s, 2.5, 10.0) if m else None),
                Component("eye_contact", 0.2, higher_better(a.eye_contact, 0.7, 0.2)),
            ],
        )

    scored, confidence = _per_answer(items, components)
    off = switched_off_components(inputs)
    evidence = [_moment(a, _speech_caption(a, off)) for a in _extremes(items, lambda a: _score_of(components(a)))]
    return _Dimension(COMMUNICATION, DimensionKind.BEHAVIOUR, scored, confidence, evidence)


def _score_of(components: Sequence[Component]) -> float | None:
    combined = combine(components)
    return combined.score if combined else None


def _confidence_dim(inputs: InterviewInputs, items: Sequence[AnswerBehaviour]) -> _Dimension:
    def components(a: AnswerBehaviour) -> list[Component]:
        m = a.speech.metrics if _spoken(a) and a.speech is not None else None
        return _active(
            inputs,
            [
                Component("eye_contact", 0.25, higher_better(a.eye_contact, 0.7, 0.2)),
                Component("hedging", 0.25, lower_better(a.hedging, 0.1, 0.6)),
                Component("fillers", 0.15, lower_better(m.filler_rate, 2.0, 12.0) if m else None),
                Component("liveliness", 0.2, _liveliness(a)),
                Component("posture", 0.15, higher_better(a.posture_stability, 0.8, 0.3)),
            ],
        )

    scored, confidence = _per_answer(items, components)
    evidence: list[Evidence] = []
    for a in _extremes(items, lambda a: _score_of(components(a))):
        seen = "" if "eye_contact" in switched_off_components(inputs) else f"eye contact {_pct(a.eye_contact)}, "
        evidence.append(_moment(a, f"{a.question.question_id}: {seen}hedging {_pct(a.hedging)}"))
        frame = _key_frame(inputs, a, f"{a.question.question_id}: mid-answer")
        if frame is not None:
            evidence.append(frame)
    return _Dimension(CONFIDENCE, DimensionKind.BEHAVIOUR, scored, confidence, evidence)


def _relative_change(pressure: float | None, baseline: float | None) -> float | None:
    if pressure is None or baseline is None:
        return None
    return abs(pressure - baseline) / max(abs(baseline), 1e-6)


def _stability_components(pressure: Sequence[AnswerBehaviour], calm: Sequence[AnswerBehaviour]) -> list[Component]:
    """How much the candidate's behaviour moved on the pressure questions against the calm ones."""

    def avg(group: Sequence[AnswerBehaviour], pick: Callable[[AnswerBehaviour], float | None]) -> float | None:
        return _mean([pick(a) for a in group])

    def rate(a: AnswerBehaviour) -> float | None:
        if a.speech is None or a.words < MIN_WORDS // 2:
            return None
        return a.speech.metrics.cpm if _is_chinese(a.speech.language) else a.speech.metrics.wpm

    def fillers(a: AnswerBehaviour) -> float | None:
        return a.speech.metrics.filler_rate if _spoken(a) and a.speech is not None else None

    def look_away_share(a: AnswerBehaviour) -> float | None:
        if not a.seconds_observed:
            return None
        return sum(e.duration_s for e in a.look_aways) / max(a.question.end_s - a.question.start_s, 1.0)

    filler_rise = None
    p_fill, c_fill = avg(pressure, fillers), avg(calm, fillers)
    if p_fill is not None and c_fill is not None:
        filler_rise = max(0.0, p_fill - c_fill)
    look_rise = None
    p_look, c_look = avg(pressure, look_away_share), avg(calm, look_away_share)
    if p_look is not None and c_look is not None:
        look_rise = max(0.0, p_look - c_look)
    return [
        Component("rate_shift", 0.25, lower_better(_relative_change(avg(pressure, rate), avg(calm, rate)), 0.1, 0.5)),
        Component("filler_rise", 0.2, lower_better(filler_rise, 1.0, 8.0)),
        Component("look_away_rise", 0.2, lower_better(look_rise, 0.05, 0.4)),
        Component(
            "motion_shift",
            0.15,
            lower_better(_relative_change(avg(pressure, lambda a: a.motion), avg(calm, lambda a: a.motion)), 0.3, 1.5),
        ),
        Component("volatility", 0.2, lower_better(avg(pressure, lambda a: a.expression_volatility), 0.15, 0.6)),
    ]


def _emotional_stability(inputs: InterviewInputs, items: Sequence[AnswerBehaviour]) -> _Dimension:
    pressure = [a for a in items if a.question.pressure]
    calm = [a for a in items if not a.question.pressure]
    evidence: list[Evidence] = []
    if pressure and calm:
        scored = combine(_active(inputs, _stability_components(pressure, calm)))
        confidence = scored.coverage if scored else 0.0
        for a in pressure:
            evidence.append(_moment(a, f"pressure question {_speech_caption(a, switched_off_components(inputs))}"))
            frame = _key_frame(inputs, a, f"{a.question.question_id} (pressure question): mid-answer")
            if frame is not None:
                evidence.append(frame)
    else:
        # No pressure question: steadiness across the answers is the best available signal (less sure).
        def components(a: AnswerBehaviour) -> list[Component]:
            return _active(
                inputs,
                [
                    Component("volatility", 0.5, lower_better(a.expression_volatility, 0.15, 0.6)),
                    Component("negative", 0.3, lower_better(a.negative_share, 0.1, 0.5)),
                    Component("motion", 0.2, lower_better(a.motion, 0.08, 0.3)),
                ],
            )

        scored, confidence = _per_answer(items, components)
        confidence *= 0.6
        off = switched_off_components(inputs)
        evidence = [_moment(a, _speech_caption(a, off)) for a in _extremes(items, lambda a: _score_of(components(a)))]
    return _Dimension(EMOTIONAL_STABILITY, DimensionKind.BEHAVIOUR, scored, confidence, evidence)


def _smiling_share(a: AnswerBehaviour) -> float | None:
    if not a.emotion_inferred or not a.seconds_observed:
        return None
    return sum(e.duration_s for e in a.smiles) / max(a.question.end_s - a.question.start_s, 1.0)


def _expression_positivity(inputs: InterviewInputs, items: Sequence[AnswerBehaviour]) -> _Dimension:
    inferred = [a for a in items if a.emotion_inferred]

    def components(a: AnswerBehaviour) -> list[Component]:
        return _active(
            inputs,
            [
                # Time spent smiling (vision's smile episodes) separates candidates best: expression models
                # saturate, so even a relaxed neutral face reads as a fairly high happiness probability.
                Component("smiling_time", 0.45, higher_better(_smiling_share(a), 0.35, 0.0)),
                Component("smile", 0.25, higher_better(a.smile, 0.9, 0.2)),
                Component("positive", 0.1, higher_better(a.positive_share, 0.7, 0.0)),
                Component("negative", 0.2, lower_better(a.negative_share, 0.05, 0.4)),
            ],
        )

    scored, confidence = _per_answer(inferred, components)
    evidence: list[Evidence] = []
    smiles = [(e, a) for a in inferred for e in a.smiles if e.duration_s > 0]
    for episode, a in sorted(smiles, key=lambda t: -t[0].duration_s)[:3]:
        evidence.append(_moment(a, f"{a.question.question_id}: smiling", episode.start_s, episode.end_s))
    return _Dimension(EXPRESSION_POSITIVITY, DimensionKind.BEHAVIOUR, scored, confidence, evidence)


def _logic_structure(inputs: InterviewInputs, items: Sequence[AnswerBehaviour]) -> _Dimension:
    def components(a: AnswerBehaviour) -> list[Component]:
        return _active(
            inputs,
            [
                Component("structure", 0.6, a.structure),
                Component("specificity", 0.4, a.specificity),
            ],
        )

    scored, confidence = _per_answer(items, components)
    evidence: list[Evidence] = []
    best = _extremes(items, lambda a: a.structure)
    for a in best[:1]:
        if a.speech is None:
            continue
        top = max(a.speech.competency_scores, key=lambda c: c.structure, default=None)
        for quote in (top.evidence if top else [])[:3]:
            evidence.append(
                Evidence(kind=EvidenceKind.QUOTE, start_s=quote.start_s, end_s=quote.end_s, text=quote.quote)
            )
    return _Dimension(LOGIC_STRUCTURE, DimensionKind.BEHAVIOUR, scored, confidence, evidence)


def _competencies(inputs: InterviewInputs, items: Sequence[AnswerBehaviour]) -> list[_Dimension]:
    """One dimension per competency: answers to the questions meant for it count fully, others a little."""
    targets = inputs.job_model.question_competencies if inputs.job_model else {}
    by_competency: dict[str, list[tuple[float, float, AnswerBehaviour]]] = {}
    for a in items:
        if a.speech is None:
            continue
        meant_for = set(targets.get(a.question.question_id, ()))
        for c in a.speech.competency_scores:
            weight = 1.0 if not meant_for or c.competency_id in meant_for else 0.35
            by_competency.setdefault(c.competency_id, []).append((c.score, weight, a))
    dims: list[_Dimension] = []
    for competency_id, rows in sorted(by_competency.items()):
        weight = sum(w for _, w, _ in rows)
        score = sum(s * w for s, w, _ in rows) / weight
        long_enough = sum(1 for _, _, a in rows if a.words >= MIN_WORDS) / len(rows)
        answered = len({id(a) for _, _, a in rows}) / max(len(items), 1)
        evidence: list[Evidence] = []
        for _, _, a in sorted(rows, key=lambda r: -r[0] * r[1]):
            cs = next(c for c in a.speech.competency_scores if c.competency_id == competency_id)  # type: ignore[union-attr]
            evidence.extend(
                Evidence(kind=EvidenceKind.QUOTE, start_s=q.start_s, end_s=q.end_s, text=q.quote)
                for q in cs.evidence[:2]
            )
        dims.append(
            _Dimension(
                competency_id,
                DimensionKind.COMPETENCY,
                Scored(round(score, 1), 1.0),
                0.5 * long_enough + 0.5 * answered,
                evidence,
            )
        )
    return dims


# ---- the profile -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileScores:
    dimensions: list[DimensionScore]
    overall: float | None
    label: ProfileLabel
    confidence: float
    data_quality: list[str]
    answers: list[AnswerBehaviour]
    explanation: Explanation


def _permitted(inputs: InterviewInputs, scope: ConsentScope) -> bool:
    return scope.value in inputs.ingested.context.permitted_analyses


#: Share of dark frames (vision's dark_threshold) from which the lighting is flagged: a dark room lowers the
#: detector's confidence and the landmarks' precision before it loses the face.
POOR_LIGHTING_SHARE = 0.5


def dark_share(vision: Sequence[VisionFeatures]) -> float:
    """Share of the analysed frames that were dark, over the chunks that measured their pictures."""
    measured = [(v.summary.frames_analysed, v.summary.image_quality) for v in vision]
    frames = sum(n for n, q in measured if q is not None)
    return sum(n * q.dark_ratio for n, q in measured if q is not None) / frames if frames else 0.0


def data_quality(inputs: InterviewInputs, items: Sequence[AnswerBehaviour]) -> list[str]:
    flags: list[str] = []
    media_flags = set(inputs.ingested.flags)
    if inputs.manifest.frames_failed is not None:
        flags.append("media_unprocessable")
    for flag in (DataQualityFlag.AUDIO_ONLY, DataQualityFlag.VIDEO_ONLY):
        if flag.value in media_flags:
            flags.append(flag.value)
    if inputs.vision_received < inputs.manifest.chunks or inputs.failed_chunks:
        flags.append(DataQualityFlag.MISSING_VISION_CHUNKS.value)
    if inputs.speech_received < inputs.manifest.segments or inputs.failed_segments:
        flags.append(DataQualityFlag.MISSING_SPEECH_SEGMENTS.value)
    if inputs.vision:
        presence = statistics.fmean(v.summary.face_present_ratio for v in inputs.vision)
        if presence == 0:
            flags.append(DataQualityFlag.NO_FACE_DETECTED.value)
        elif presence < 0.6:
            flags.append(DataQualityFlag.LOW_FACE_PRESENCE.value)
        if any(v.summary.episodes.second_face for v in inputs.vision):
            flags.append(DataQualityFlag.MULTIPLE_FACES.value)
        if dark_share(inputs.vision) >= POOR_LIGHTING_SHARE:
            flags.append(DataQualityFlag.POOR_LIGHTING.value)
        if not any(v.summary.emotion_inference.performed for v in inputs.vision):
            reasons = {str(v.summary.emotion_inference.reason) for v in inputs.vision}
            if reasons & {"jurisdiction_prohibits", "no_consent", "disabled"}:
                flags.append(DataQualityFlag.EMOTION_INFERENCE_NOT_PERMITTED.value)
        # face mesh: the face was seen but too small in the picture for landmark measures (blinks, mouth, brows)
        marks = [m for v in inputs.vision if (m := v.summary.face_landmarks) is not None]
        if any(m.frames_too_small for m in marks) and not any(m.supported and m.frames_measured for m in marks):
            flags.append(DataQualityFlag.FACE_TOO_SMALL_FOR_LANDMARKS.value)
    # --- hands and upper body ---
    samples = [b for v in inputs.vision for b in v.body]
    if samples and not any(b.shoulder_width is not None for b in samples):
        flags.append(DataQualityFlag.POSTURE_NOT_MEASURABLE.value)
    permitted = inputs.ingested.context.permitted_analyses
    if MediaFlag.AUDIO_ONLY.value not in media_flags and not may_extract_video(permitted):
        flags.append(DataQualityFlag.VIDEO_ANALYSIS_NOT_PERMITTED.value)
    if MediaFlag.VIDEO_ONLY.value not in media_flags and not may_extract_audio(permitted):
        flags.append(DataQualityFlag.AUDIO_ANALYSIS_NOT_PERMITTED.value)
    if not _permitted(inputs, ConsentScope.TRANSCRIPTION):
        flags.append(DataQualityFlag.TRANSCRIPTION_NOT_PERMITTED.value)
    if not _permitted(inputs, ConsentScope.AUTOMATED_SCORING):
        flags.append(DataQualityFlag.SCORING_NOT_PERMITTED.value)
    spoken = [a.words for a in items if a.speech is not None]
    if spoken and statistics.median(spoken) < MIN_WORDS:
        flags.append(DataQualityFlag.SHORT_ANSWERS.value)
    if inputs.windows_found:
        flags += search_flags(inputs.speech)
    expected = inputs.ingested.context.locale.split("-")[0].lower()
    detected = [a.speech.language.split("-")[0].lower() for a in items if a.speech and a.speech.language]
    # "und" (undetermined): the language was left to detection, so nothing can differ from it.
    if expected != "und" and detected and sum(1 for d in detected if d != expected) > len(detected) / 2:
        flags.append(DataQualityFlag.LANGUAGE_MISMATCH.value)
    return list(dict.fromkeys(flags))


def score_interview(inputs: InterviewInputs, settings: FusionSettings) -> ProfileScores:
    items = answers(inputs.questions, inputs.vision, inputs.answer_speech)
    flags = data_quality(inputs, items)
    if not _permitted(inputs, ConsentScope.AUTOMATED_SCORING) or inputs.manifest.frames_failed is not None:
        flags.append("insufficient_data")
        unscored = explain(inputs, [], {})
        return ProfileScores([], None, ProfileLabel.PENDING, 0.0, list(dict.fromkeys(flags)), items, unscored)
    behaviour = [
        _communication(inputs, items),
        _confidence_dim(inputs, items),
        _emotional_stability(inputs, items),
        _expression_positivity(inputs, items),
        _logic_structure(inputs, items),
    ]
    competencies = _competencies(inputs, items)
    coverage = _coverage_ratio(inputs)
    for dim in (*behaviour, *competencies):
        dim.confidence *= coverage
    dimensions = [d for dim in (*competencies, *behaviour) if (d := dim.to_contract()) is not None]
    shares = dimension_shares(inputs, dimensions, settings)
    overall, confidence = _overall(dimensions, shares)
    label = suggest_label(overall, confidence, inputs, settings)
    if overall is None or _missing_share(inputs) > settings.max_missing_share:
        # Scores are shown, but no outcome is suggested from a profile with holes this large.
        flags.append("insufficient_data")
        label = ProfileLabel.PENDING
    explanation = explain(inputs, dimensions, shares)
    return ProfileScores(dimensions, overall, label, confidence, list(dict.fromkeys(flags)), items, explanation)


def _missing_share(inputs: InterviewInputs) -> float:
    """The larger share of announced vision chunks or speech segments that never produced a result."""
    vision = 1 - len({v.chunk_index for v in inputs.vision}) / inputs.manifest.chunks if inputs.manifest.chunks else 0
    speech = (
        1 - len({s.segment_index for s in inputs.speech}) / inputs.manifest.segments if inputs.manifest.segments else 0
    )
    return max(0.0, vision, speech)


def _coverage_ratio(inputs: InterviewInputs) -> float:
    expected = inputs.manifest.chunks + inputs.manifest.segments
    if expected == 0:
        return 1.0
    good = len({v.chunk_index for v in inputs.vision}) + len({s.segment_index for s in inputs.speech})
    return min(1.0, good / expected)


def dimension_shares(
    inputs: InterviewInputs, dimensions: Sequence[DimensionScore], settings: FusionSettings
) -> dict[str, float]:
    """Each dimension's share of the overall score (they add up to 1): competencies by the job model's weights,
    behaviour dimensions equally; `behaviour_weight` splits the two groups."""
    comp = [d for d in dimensions if d.kind == DimensionKind.COMPETENCY]
    behav = [d for d in dimensions if d.kind == DimensionKind.BEHAVIOUR]
    weights = inputs.job_model.competency_weights if inputs.job_model else {}

    def competency_weight(d: DimensionScore) -> float:
        return weights.get(d.dimension, 1.0) if weights else 1.0

    def equal(d: DimensionScore) -> float:
        return 1.0

    groups: list[tuple[float, list[DimensionScore], Callable[[DimensionScore], float]]] = [
        (1.0 - settings.behaviour_weight, comp, competency_weight),
        (settings.behaviour_weight, behav, equal),
    ]
    present = [(w, ds, weight_of) for w, ds, weight_of in groups if ds]
    total = sum(w for w, _, _ in present)
    shares: dict[str, float] = {}
    if total <= 0:
        return shares
    for group_weight, ds, weight_of in present:
        within = sum(weight_of(d) for d in ds)
        for d in ds:
            shares[d.dimension] = group_weight / total * weight_of(d) / within
    return shares


def _overall(dimensions: Sequence[DimensionScore], shares: dict[str, float]) -> tuple[float | None, float]:
    """The share-weighted score and confidence; behaviour alone halves the confidence."""
    if not shares:
        return None, 0.0
    overall = sum(shares[d.dimension] * d.score for d in dimensions)
    confidence = sum(shares[d.dimension] * d.confidence for d in dimensions)
    if not any(d.kind == DimensionKind.COMPETENCY for d in dimensions):
        confidence *= 0.5  # behaviour alone says nothing about the job's competencies
    return round(overall, 1), round(confidence, 3)


def suggest_label(
    overall: float | None, confidence: float, inputs: InterviewInputs, settings: FusionSettings
) -> ProfileLabel:
    if overall is None or confidence < settings.min_label_confidence:
        return ProfileLabel.PENDING
    model = inputs.job_model
    recommend_at = model.recommend_at if model and model.recommend_at is not None else settings.recommend_at
    reject_below = model.reject_below if model and model.reject_below is not None else settings.reject_below
    if overall >= recommend_at:
        return ProfileLabel.RECOMMEND
    if overall < reject_below:
        return ProfileLabel.REJECT
    return ProfileLabel.PENDING


__all__ = [
    "BEHAVIOUR_DIMENSIONS",
    "POOR_LIGHTING_SHARE",
    "SCORING_MODEL_VERSION",
    "ProfileScores",
    "band",
    "combine",
    "dark_share",
    "data_quality",
    "dimension_shares",
    "score_interview",
    "suggest_label",
]
