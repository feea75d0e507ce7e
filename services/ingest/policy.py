"""What may be done with an interview: consent, the jurisdiction policy table and the size limits.

Pure functions of the interview-completed event and the configured policy; the decision is made once
here and travels downstream in `InterviewContext.permitted_analyses`, so every stage applies the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.common.contracts import ConsentScope, FailureCode, InterviewCompleted, InterviewContext
from services.common.contracts.types import is_eu_jurisdiction, jurisdiction_country

#: Version of the default policy table; bump it whenever `DEFAULT_PROHIBITED` changes.
DEFAULT_POLICY_VERSION = "policy-2025.02"

#: Jurisdiction key → scopes never performed there, whatever the consent says. Keys are a jurisdiction
#: ("US-IL"), a country ("US"), "EU" (any member state or subdivision of one) or "*" (everywhere).
DEFAULT_PROHIBITED: Mapping[str, frozenset[str]] = {
    "EU": frozenset({ConsentScope.EMOTION_INFERENCE.value}),
}

#: Scopes that only make sense on top of another one (emotion inference reads faces, faces need video).
SCOPE_REQUIRES: Mapping[str, str] = {
    ConsentScope.FACE_ANALYSIS.value: ConsentScope.VIDEO_ANALYSIS.value,
    ConsentScope.EMOTION_INFERENCE.value: ConsentScope.FACE_ANALYSIS.value,
}

#: Scopes that are an analysis of the recording itself: at least one must be permitted, else nothing is done.
MEDIA_SCOPES = frozenset(
    {ConsentScope.VIDEO_ANALYSIS.value, ConsentScope.AUDIO_ANALYSIS.value, ConsentScope.TRANSCRIPTION.value}
)

_KNOWN_SCOPES = frozenset(s.value for s in ConsentScope)


class PolicyViolation(ValueError):
    """The event is well formed but may not be processed; `code` is a `FailureCode` value."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class JurisdictionPolicy:
    """The policy table: which consented scopes each jurisdiction still forbids."""

    version: str = DEFAULT_POLICY_VERSION
    prohibited: Mapping[str, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_PROHIBITED))

    def prohibited_in(self, jurisdiction: str) -> frozenset[str]:
        """Union of every matching entry: a specific entry can add prohibitions, never lift EU-wide ones."""
        keys = {"*", jurisdiction, jurisdiction_country(jurisdiction)}
        if is_eu_jurisdiction(jurisdiction):
            keys.add("EU")
        result: frozenset[str] = frozenset()
        for key in keys:
            result |= self.prohibited.get(key, frozenset())
        return result


@dataclass(frozen=True)
class IngestLimits:
    """Largest recording ingest accepts, per media item."""

    max_size_bytes: int = 4 * 1024**3
    max_duration_s: float = 3 * 3600.0


def permitted_analyses(consented: list[str], jurisdiction: str, policy: JurisdictionPolicy) -> list[str]:
    """Consented known scopes that the jurisdiction allows and whose prerequisites are permitted, in consent order.

    Unknown scopes are kept in the consent but grant nothing.
    """
    prohibited = policy.prohibited_in(jurisdiction)
    allowed = {s for s in consented if s in _KNOWN_SCOPES and s not in prohibited}
    changed = True
    while changed:  # drop scopes whose prerequisite is gone (transitively)
        changed = False
        for scope in list(allowed):
            needed = SCOPE_REQUIRES.get(scope)
            if needed is not None and needed not in allowed:
                allowed.discard(scope)
                changed = True
    return [s for s in consented if s in allowed]


def decide(event: InterviewCompleted, policy: JurisdictionPolicy, limits: IngestLimits) -> InterviewContext:
    """The interview context for a processable event; raises `PolicyViolation` otherwise."""
    consent = event.consent
    if not consent.granted:
        raise PolicyViolation(FailureCode.NO_CONSENT, "the candidate did not consent to the analysis")
    consented = [str(s) for s in consent.scopes]
    if not MEDIA_SCOPES & set(consented):
        raise PolicyViolation(
            FailureCode.NO_CONSENT, "consent covers none of video_analysis, audio_analysis or transcription"
        )
    permitted = permitted_analyses(consented, event.jurisdiction, policy)
    if not MEDIA_SCOPES & set(permitted):
        raise PolicyViolation(
            FailureCode.POLICY_FORBIDS,
            f"the policy for jurisdiction {event.jurisdiction} ({policy.version}) permits no analysis "
            "the candidate consented to",
        )
    for index, item in enumerate(event.media):
        if item.size_bytes is not None and item.size_bytes > limits.max_size_bytes:
            raise PolicyViolation(
                FailureCode.OVER_LIMITS,
                f"media[{index}] is announced as {item.size_bytes} bytes; the limit is {limits.max_size_bytes}",
            )
    return InterviewContext(
        source_event_id=event.event_id,
        candidate_ref=event.candidate_ref,
        job=event.job,
        locale=event.locale,
        jurisdiction=event.jurisdiction,
        consent_scopes=list(consent.scopes),
        permitted_analyses=permitted,
        policy_version=policy.version,
        interview_started_at=event.interview_started_at,
        questions=event.questions,
        untimed_questions=event.untimed_questions,
        accommodations=list(event.accommodations),
        callback=event.callback,
    )
