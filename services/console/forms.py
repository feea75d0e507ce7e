"""The decision form: what a reviewer submitted, checked, and the review-decision event it becomes.

The profile's facts (tenant, interview, suggested label) come from the stored profile, never from the
form; the form only says what the reviewer decided. An override needs a different label and at least
one reason code; a note is optional.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.contracts import ReviewDecision, deterministic_event_id
from services.common.contracts.types import EXTERNAL_ID_PATTERN, OverrideReason, ProfileLabel, ReviewAction

from .auth import ConsoleUser

PRODUCER = "sightline-console"
NOTE_MAX_CHARS = 4000

#: Form fields → their values (a field may repeat: the reason-code checkboxes).
FormData = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class ProfileToReview:
    """The stored profile version a decision is about."""

    tenant_id: str
    interview_id: str
    profile_version: int
    label: ProfileLabel


@dataclass(frozen=True)
class Decision:
    """A valid decision as submitted."""

    decision_id: str
    profile_version: int
    action: ReviewAction
    override_label: ProfileLabel | None
    reason_codes: tuple[OverrideReason, ...]
    note: str | None


class FormErrors(ValueError):
    """The form cannot be accepted; ``errors`` maps a field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in errors.items()))
        self.errors = errors


def new_decision_id() -> str:
    """Put in the form when it is shown: submitting the same form twice replaces one decision."""
    return f"rd-console-{uuid.uuid4().hex}"


def _one(form: FormData, name: str) -> str:
    values = form.get(name) or []
    return values[0].strip() if len(values) == 1 else ("" if not values else "\0several")


def parse_decision(form: FormData, suggested: ProfileLabel) -> Decision:
    """The decision in ``form`` on a profile suggesting ``suggested``; raises :class:`FormErrors`."""
    errors: dict[str, str] = {}
    decision_id = _one(form, "decision_id")
    if not re.fullmatch(EXTERNAL_ID_PATTERN, decision_id):
        errors["decision_id"] = "missing or malformed; reload the page"
    version_text = _one(form, "profile_version")
    version = int(version_text) if version_text.isdigit() and int(version_text) >= 1 else 0
    if not version:
        errors["profile_version"] = "missing or not a positive number; reload the page"
    action_text = _one(form, "action")
    action = ReviewAction(action_text) if action_text in set(ReviewAction) else None
    if action is None:
        errors["action"] = "choose confirm or override"

    label_text = _one(form, "override_label")
    override_label: ProfileLabel | None = None
    reasons: list[OverrideReason] = []
    for code in form.get("reason_codes") or []:
        if code not in set(OverrideReason):
            errors["reason_codes"] = f"unknown reason code {code!r}"
        elif OverrideReason(code) not in reasons:
            reasons.append(OverrideReason(code))
    if action is ReviewAction.OVERRIDE:
        if label_text not in set(ProfileLabel):
            errors["override_label"] = "choose the label that should stand instead"
        elif ProfileLabel(label_text) == suggested:
            errors["override_label"] = f"an override needs a label other than the suggested {suggested}"
        else:
            override_label = ProfileLabel(label_text)
        if not reasons and "reason_codes" not in errors:
            errors["reason_codes"] = "an override needs at least one reason"
    elif action is ReviewAction.CONFIRM and label_text:
        errors["override_label"] = "a confirmation keeps the suggested label; leave the override label empty"

    note = _one(form, "note").replace("\r\n", "\n")
    if note == "\0several":
        errors["note"] = "one note only"
    elif len(note) > NOTE_MAX_CHARS:
        errors["note"] = f"at most {NOTE_MAX_CHARS} characters ({len(note)} given)"
    if errors or action is None:
        raise FormErrors(errors)
    return Decision(decision_id, version, action, override_label, tuple(reasons), note or None)


def decision_event(
    decision: Decision, profile: ProfileToReview, user: ConsoleUser, now: datetime | None = None
) -> ReviewDecision:
    """The review-decision event of ``decision`` by ``user`` on the stored ``profile``.

    The event id derives from the decision and its content: the same form sent twice is one event, a
    decision changed under the same id is a new event that replaces the earlier row."""
    if decision.profile_version != profile.profile_version:
        raise ValueError(
            f"decision on version {decision.profile_version}, profile given is version {profile.profile_version}"
        )
    if user.tenant_id != profile.tenant_id:
        raise PermissionError(f"{user.username} of {user.tenant_id} may not decide on a {profile.tenant_id} profile")
    decided = now or datetime.now(UTC)
    content = hashlib.sha256(
        repr((decision.action, decision.override_label, decision.reason_codes, decision.note)).encode()
    ).hexdigest()
    return ReviewDecision(
        event_id=deterministic_event_id(
            PRODUCER, profile.tenant_id, profile.interview_id, decision.decision_id, content
        ),
        occurred_at=decided,
        tenant_id=profile.tenant_id,
        interview_id=profile.interview_id,
        producer=PRODUCER,
        decision_id=decision.decision_id,
        profile_version=profile.profile_version,
        suggested_label=profile.label,
        action=decision.action,
        override_label=decision.override_label,
        reason_codes=list(decision.reason_codes) or None,
        note=decision.note,
        reviewer_id=user.decision_author,
        reviewer_role=user.role.value,
        decided_at=decided,
    )
