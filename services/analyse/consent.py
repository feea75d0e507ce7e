"""The candidates' consent, stated explicitly on the command line or in a file.

Analysing faces and voices needs the candidate's consent; ``sightline analyse`` never assumes it. The
jurisdiction's policy (applied at ingest) then decides what of the consented analysis may run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from services.common.contracts import Consent, ConsentScope

#: What ``--consent-scopes default`` grants: everything but emotion inference, which needs its own consent.
DEFAULT_SCOPES: tuple[str, ...] = (
    ConsentScope.VIDEO_ANALYSIS,
    ConsentScope.AUDIO_ANALYSIS,
    ConsentScope.TRANSCRIPTION,
    ConsentScope.FACE_ANALYSIS,
    ConsentScope.AUTOMATED_SCORING,
)
CONSENT_VERSION = "sightline-cli-1"
#: The consent record of ``--consent-scopes``: the operator attests the consent (and the notice) on the command line.
CLI_RECORD_REF = "sightline-cli"

MISSING = (
    "analysing faces and voices needs the candidates' consent: give --consent FILE (the consent record) or "
    f"--consent-scopes default (= {','.join(DEFAULT_SCOPES)}) or a comma-separated list of scopes"
)


class ConsentError(ValueError):
    """No consent, or a consent that cannot be read; the message says what to give."""


def consent_from_scopes(value: str, granted_at: datetime) -> Consent:
    """``default`` or a comma-separated list of known scopes, granted now."""
    scopes: Sequence[str] = DEFAULT_SCOPES if value.strip() == "default" else _scopes(value)
    return Consent(
        granted=True,
        scopes=list(scopes),
        version=CONSENT_VERSION,
        granted_at=granted_at,
        record_ref=CLI_RECORD_REF,
    )


def with_attested_notice(consent: Consent, started: datetime) -> Consent:
    """``--consent-scopes`` attests that the candidate was told before the interview and consented: the notice is
    dated at the interview's start. A consent file states its own ``notice_given_at`` (NYC asks for ten business
    days ahead, which only the record can show)."""
    if consent.record_ref != CLI_RECORD_REF or consent.notice_given_at is not None:
        return consent
    return consent.model_copy(update={"notice_given_at": started})


def _scopes(value: str) -> list[str]:
    scopes = [s.strip() for s in value.split(",") if s.strip()]
    known = {s.value for s in ConsentScope}
    unknown = sorted(set(scopes) - known)
    if unknown:
        raise ConsentError(f"unknown consent scope(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if not scopes:
        raise ConsentError(MISSING)
    return list(dict.fromkeys(scopes))


def consent_from_file(path: Path) -> Consent:
    """A consent record (JSON or YAML) in the interview-completed event's ``consent`` format."""
    try:
        text = path.read_text(encoding="utf-8")
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        consent = Consent.model_validate(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConsentError(f"{path}: cannot read the consent record: {exc}") from None
    except ValidationError as exc:
        raise ConsentError(f"{path}: not a consent record: {exc}") from None
    if not consent.granted:
        raise ConsentError(f"{path}: the candidate did not consent (granted: false); nothing is analysed")
    return consent


def resolve_consent(file: Path | None, scopes: str | None, now: datetime) -> Consent:
    if file is not None and scopes is not None:
        raise ConsentError("give --consent FILE or --consent-scopes, not both")
    if file is not None:
        return consent_from_file(file)
    if scopes is not None:
        return consent_from_scopes(scopes, now)
    raise ConsentError(MISSING)


__all__ = [
    "DEFAULT_SCOPES",
    "ConsentError",
    "consent_from_file",
    "consent_from_scopes",
    "resolve_consent",
    "with_attested_notice",
]
