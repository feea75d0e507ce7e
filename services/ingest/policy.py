"""What may be done with an interview: consent, the jurisdiction policy table and the size limits.

Pure functions of the interview-completed event and the configured policy; the decision is made once
here and travels downstream in `InterviewContext.permitted_analyses`, so every stage applies the same.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from services.common.contracts import ConsentScope, FailureCode, InterviewCompleted, InterviewContext
from services.common.jurisdictions import DEFAULT_RULES, JurisdictionRules, rules_for, with_prohibitions

#: Version of the default policy table; bump it whenever `DEFAULT_RULES` or `DEFAULT_PROHIBITED` changes.
DEFAULT_POLICY_VERSION = "policy-2026.12"

#: Jurisdiction key → scopes never performed there, whatever the consent says (the statutory rule sets'). Keys
#: are a jurisdiction ("US-IL"), a country ("US"), "EU" (any member state or subdivision of one) or "*".
DEFAULT_PROHIBITED: Mapping[str, frozenset[str]] = {
    key: rules.prohibited_scopes for key, rules in DEFAULT_RULES.items() if rules.prohibited_scopes
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

#: Every visual measure reads the face: frames are extracted only when both are permitted.
VIDEO_EXTRACTION_NEEDS = frozenset({ConsentScope.VIDEO_ANALYSIS.value, ConsentScope.FACE_ANALYSIS.value})
#: Speech runs for either: audio is extracted when one is permitted.
AUDIO_EXTRACTION_NEEDS_ONE_OF = frozenset({ConsentScope.AUDIO_ANALYSIS.value, ConsentScope.TRANSCRIPTION.value})


def may_extract_video(permitted: Collection[str]) -> bool:
    """Frames (chunks and key frames) may be taken from the recording."""
    return set(permitted) >= VIDEO_EXTRACTION_NEEDS


def may_extract_audio(permitted: Collection[str]) -> bool:
    """Audio segments may be taken from the recording."""
    return bool(AUDIO_EXTRACTION_NEEDS_ONE_OF & set(permitted))


def why_not_permitted(context: InterviewContext, scope: str) -> str | None:
    """None when `scope` is permitted for the interview; otherwise the first reason it is not.

    ``no_consent`` (the candidate did not consent to it or to a scope it builds on), ``no_separate_consent``
    (the jurisdiction asks a separate consent the candidate did not give), ``jurisdiction_prohibits``.
    """
    permitted, consented = set(context.permitted_analyses), {str(s) for s in context.consent_scopes}
    if scope in permitted:
        return None
    if scope not in consented:
        return "no_consent"
    needed = SCOPE_REQUIRES.get(scope)
    if needed is not None and needed not in permitted:
        return why_not_permitted(context, needed)
    if rules_for(context.jurisdiction).required_scopes(scope) - consented:
        return "no_separate_consent"
    return "jurisdiction_prohibits"


class PolicyViolation(ValueError):
    """The event is well formed but may not be processed; `code` is a `FailureCode` value."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class JurisdictionPolicy:
    """The policy: the statutory rule sets (services.common.jurisdictions) plus a deployment's own prohibitions.

    `prohibited` can only add prohibitions: what a statutory rule set forbids stays forbidden.
    """

    version: str = DEFAULT_POLICY_VERSION
    prohibited: Mapping[str, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_PROHIBITED))
    rules: Mapping[str, JurisdictionRules] = field(default_factory=lambda: dict(DEFAULT_RULES))

    def rules_for(self, jurisdiction: str) -> JurisdictionRules:
        """Every rule set applying to `jurisdiction`, with this deployment's prohibitions, combined."""
        return rules_for(jurisdiction, with_prohibitions(self.rules, self.prohibited))

    def prohibited_in(self, jurisdiction: str) -> frozenset[str]:
        """Union of every matching entry: a specific entry can add prohibitions, never lift EU-wide ones."""
        return self.rules_for(jurisdiction).prohibited_scopes


@dataclass(frozen=True)
class IngestLimits:
    """Largest recording ingest accepts, per media item."""

    max_size_bytes: int = 4 * 1024**3
    max_duration_s: float = 3 * 3600.0
    max_pixels: int = 8192 * 4320
    max_frame_rate: float = 240.0


def permitted_analyses(consented: list[str], jurisdiction: str, policy: JurisdictionPolicy) -> list[str]:
    """Consented known scopes that the jurisdiction allows and whose prerequisites are permitted, in consent order.

    A prerequisite is another analysis (`SCOPE_REQUIRES`) or a separate consent the jurisdiction asks for
    (face_analysis needs biometric_processing under PIPL and BIPA). Unknown scopes are kept in the consent but
    grant nothing.
    """
    rules = policy.rules_for(jurisdiction)
    allowed = {s for s in consented if s in _KNOWN_SCOPES and s not in rules.prohibited_scopes}
    changed = True
    while changed:  # drop scopes whose prerequisite is gone (transitively)
        changed = False
        for scope in list(allowed):
            needed = rules.required_scopes(scope) | {SCOPE_REQUIRES.get(scope, scope)}
            if not needed <= allowed:
                allowed.discard(scope)
                changed = True
    return [s for s in consented if s in allowed]


def _separate_consent_note(jurisdiction: str, policy: JurisdictionPolicy) -> str:
    extra = sorted(policy.rules_for(jurisdiction).required_scopes(ConsentScope.FACE_ANALYSIS.value))
    return f", and here also {' and '.join(extra)}" if extra else ""


def business_days_before(notice: datetime, start: datetime) -> int:
    """Business days (Monday to Friday, from the notice's day up to the day before the start) between the two.

    Public holidays are not counted out: a tenant whose calendar has them gives the notice earlier.
    """
    return int(np.busday_count(notice.date(), start.date()))


def check_notice(event: InterviewCompleted, rules: JurisdictionRules) -> None:
    """Raises `PolicyViolation(no_notice)` when the jurisdiction asks for a notice before the interview and the
    consent record shows none, a notice given after the interview started, or one given too few business days
    before it (NYC Local Law 144: ten)."""
    if not rules.notice_required:
        return
    where = f"jurisdiction {event.jurisdiction} ({'; '.join(rules.basis)})"
    notice = event.consent.notice_given_at
    if notice is None:
        raise PolicyViolation(
            FailureCode.NO_NOTICE,
            f"{where} requires telling the candidate before the interview that an automated tool assesses it; "
            "the consent record has no notice_given_at",
        )
    if notice > event.interview_started_at:
        raise PolicyViolation(
            FailureCode.NO_NOTICE,
            f"{where} requires the notice before the interview; it was given at {notice.isoformat()}, after the "
            f"interview started at {event.interview_started_at.isoformat()}",
        )
    lead = rules.notice_lead_business_days
    if lead and (given := business_days_before(notice, event.interview_started_at)) < lead:
        raise PolicyViolation(
            FailureCode.NO_NOTICE,
            f"{where} requires the notice {lead} business days before the interview; it was given {given} before",
        )


def decide(event: InterviewCompleted, policy: JurisdictionPolicy, limits: IngestLimits) -> InterviewContext:
    """The interview context for a processable event; raises `PolicyViolation` otherwise."""
    consent = event.consent
    if not consent.granted:
        raise PolicyViolation(FailureCode.NO_CONSENT, "the candidate did not consent to the analysis")
    check_notice(event, policy.rules_for(event.jurisdiction))
    consented = [str(s) for s in consent.scopes]
    if not MEDIA_SCOPES & set(consented):
        raise PolicyViolation(
            FailureCode.NO_CONSENT, "consent covers none of video_analysis, audio_analysis or transcription"
        )
    permitted = permitted_analyses(consented, event.jurisdiction, policy)
    if not (may_extract_video(permitted) or may_extract_audio(permitted)):
        consent_suffices = may_extract_video(consented) or may_extract_audio(consented)
        raise PolicyViolation(
            FailureCode.POLICY_FORBIDS if consent_suffices else FailureCode.NO_CONSENT,
            f"the policy for jurisdiction {event.jurisdiction} ({policy.version}) permits no analysis "
            "the candidate consented to (video needs video_analysis and face_analysis"
            f"{_separate_consent_note(event.jurisdiction, policy)}; audio needs audio_analysis or transcription)",
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
        interview_completed_at=event.occurred_at,
        questions=event.questions,
        untimed_questions=event.untimed_questions,
        accommodations=list(event.accommodations),
        callback=event.callback,
    )
