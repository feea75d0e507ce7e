"""What the assessment looked at, what weighed most, what it left out and why: the profile's explanation, and the
accommodations that switch measures off.

Measures are grouped the way a candidate would name them (speaking fluency, eye contact, expression...); each group
lists the scoring components it covers (`services/fusion/scoring.py`). An accommodation switches whole groups off:
their components are dropped from every dimension (the remaining weights are renormalised, so the candidate is
neither penalised nor credited for what was not looked at), and the explanation says which and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.common.contracts import (
    Accommodation,
    ConsentScope,
    DimensionScore,
    DimensionWeight,
    Explanation,
    MediaFlag,
    NotMeasured,
)
from services.fusion.inputs import InterviewInputs
from services.ingest.policy import may_extract_audio, why_not_permitted

ANSWER_CONTENT, SPEAKING_FLUENCY, VOICE = "answer_content", "speaking_fluency", "voice"
EYE_CONTACT, EXPRESSION, POSTURE_AND_MOTION = "eye_contact", "expression", "posture_and_motion"
#: The groups in the order the explanation lists them.
GROUPS = (ANSWER_CONTENT, SPEAKING_FLUENCY, VOICE, EYE_CONTACT, EXPRESSION, POSTURE_AND_MOTION)
VISUAL = frozenset({EYE_CONTACT, EXPRESSION, POSTURE_AND_MOTION})
SPOKEN = frozenset({ANSWER_CONTENT, SPEAKING_FLUENCY, VOICE})

#: Scoring components (by name) of each group.
GROUP_COMPONENTS: Mapping[str, frozenset[str]] = {
    ANSWER_CONTENT: frozenset({"hedging", "structure", "specificity"}),
    SPEAKING_FLUENCY: frozenset({"rate", "fillers", "pauses", "start", "rate_shift", "filler_rise"}),
    VOICE: frozenset({"liveliness"}),
    EYE_CONTACT: frozenset({"eye_contact", "look_away_rise"}),
    EXPRESSION: frozenset({"smiling_time", "smile", "positive", "negative", "volatility"}),
    POSTURE_AND_MOTION: frozenset({"posture", "motion_shift", "motion"}),
}

#: The groups each accommodation switches off.
SWITCHED_OFF: Mapping[Accommodation, frozenset[str]] = {
    Accommodation.STUTTER: frozenset({SPEAKING_FLUENCY}),
    Accommodation.FACIAL_DIFFERENCE: frozenset({EYE_CONTACT, EXPRESSION}),
    Accommodation.NO_CAMERA: VISUAL,
    Accommodation.LOW_VISION: frozenset({EYE_CONTACT}),
}


def accommodations(inputs: InterviewInputs) -> list[Accommodation]:
    return [Accommodation(a) for a in inputs.ingested.context.accommodations]


def switched_off_groups(inputs: InterviewInputs) -> dict[str, Accommodation]:
    """Group → the (first) accommodation that switches it off."""
    off: dict[str, Accommodation] = {}
    for accommodation in accommodations(inputs):
        for group in sorted(SWITCHED_OFF[accommodation]):
            off.setdefault(group, accommodation)
    return off


def switched_off_components(inputs: InterviewInputs) -> frozenset[str]:
    """Names of the scoring components no dimension may use for this interview."""
    return frozenset(c for group in switched_off_groups(inputs) for c in GROUP_COMPONENTS[group])


def _not_permitted(inputs: InterviewInputs) -> dict[str, str]:
    """Groups the consent, the jurisdiction or the media ruled out, with the reason."""
    context = inputs.ingested.context
    flags = set(inputs.ingested.flags)
    out: dict[str, str] = {}
    face = why_not_permitted(context, ConsentScope.FACE_ANALYSIS.value)  # covers video_analysis, it builds on it
    if MediaFlag.AUDIO_ONLY.value in flags:
        out.update(dict.fromkeys(sorted(VISUAL), "no_video"))
    elif face is not None:
        out.update(dict.fromkeys(sorted(VISUAL), face))
    elif (emotion := why_not_permitted(context, ConsentScope.EMOTION_INFERENCE.value)) is not None:
        out[EXPRESSION] = emotion
    if MediaFlag.VIDEO_ONLY.value in flags:
        out.update(dict.fromkeys(sorted(SPOKEN), "no_audio"))
    elif not may_extract_audio(context.permitted_analyses):
        reason = why_not_permitted(context, ConsentScope.AUDIO_ANALYSIS.value)
        out.update(dict.fromkeys(sorted(SPOKEN), reason or "no_consent"))
    elif (transcription := why_not_permitted(context, ConsentScope.TRANSCRIPTION.value)) is not None:
        out[ANSWER_CONTENT] = transcription
    return out


def explain(inputs: InterviewInputs, dimensions: Sequence[DimensionScore], shares: Mapping[str, float]) -> Explanation:
    """The explanation of a profile with these dimensions and their shares of the overall score."""
    off = switched_off_groups(inputs)
    missing = {**_not_permitted(inputs), **{g: f"accommodation_{a.value}" for g, a in off.items()}}
    weights = sorted(
        (DimensionWeight(dimension=d.dimension, share=round(shares[d.dimension], 4)) for d in dimensions
         if d.dimension in shares),
        key=lambda w: (-w.share, w.dimension),
    )  # fmt: skip
    return Explanation(
        looked_at=[g for g in GROUPS if g not in missing] if dimensions else [],
        weights=weights,
        not_measured=[NotMeasured(measure=g, reason=missing[g]) for g in GROUPS if g in missing],
        accommodations=accommodations(inputs),
    )


__all__ = [
    "GROUPS",
    "GROUP_COMPONENTS",
    "SWITCHED_OFF",
    "explain",
    "switched_off_components",
    "switched_off_groups",
]
