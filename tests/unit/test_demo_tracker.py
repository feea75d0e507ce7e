"""The demo's progress tracker: bars from stage statuses, and when the demo may stop its stages."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from services.analyse.pipeline import DEPLOYED_STAGES
from services.analyse.progress import Tracker
from services.common.contracts import ProfileReady, StageStatus
from services.sink.callback import STATUS_UNIT as CALLBACK_UNIT
from tests.integration.stage_fixtures import example

INTERVIEW = "INT-2025-004211"


def _status(stage: str, state: str = "completed", **update: Any) -> StageStatus:
    base = StageStatus.model_validate(example("stage-status"))
    fields: dict[str, Any] = {"event_id": uuid.uuid4(), "caused_by": uuid.uuid4(), "stage": stage, "state": state}
    fields.update(interview_id=INTERVIEW, reason=None)
    fields["emitted"] = base.emitted if stage == "frames" else {}
    return StageStatus.model_validate({**base.model_dump(), **fields, **update})


def _unit(stage: str, kind: str, index: int, total: int, state: str = "completed") -> StageStatus:
    detail = {"unit_kind": kind, "unit_index": index, "unit_total": total}
    reason = {"code": "transcription_failed", "message": "decoder error", "retryable": True}
    return _status(
        stage, state, unit=f"{kind} {index + 1}/{total}", detail=detail, reason=reason if state == "failed" else None
    )


def _profile() -> ProfileReady:
    return ProfileReady.model_validate({**example("profile-ready"), "interview_id": INTERVIEW})


def _bars(tracker: Tracker) -> dict[str, tuple[int, int]]:
    return {stage: tracker.counts(INTERVIEW, stage)[:2] for stage in DEPLOYED_STAGES}


def test_frames_manifest_sets_the_vision_and_speech_bars() -> None:
    tracker = Tracker([INTERVIEW])
    tracker.add_status(_status("ingest"))
    tracker.add_status(_status("frames"))  # the example announces 14 chunks and 3 segments
    tracker.add_status(_unit("vision", "chunk", 0, 14))
    tracker.add_status(_unit("vision", "chunk", 0, 14))  # a replayed unit counts once
    tracker.add_status(_unit("speech", "segment", 1, 3, state="failed"))
    bars = _bars(tracker)
    assert bars["ingest"] == (1, 1) and bars["frames"] == (1, 1)
    assert bars["vision"] == (1, 14) and bars["speech"] == (1, 3)
    assert tracker.counts(INTERVIEW, "speech")[2] is True  # the failure shows on the bar


def test_the_frames_bar_waits_for_every_range_of_a_long_recording() -> None:
    tracker = Tracker([INTERVIEW])
    media = _status("frames")
    emitted = {**media.emitted, "sightline.frame-range-requested.v1": 3}
    tracker.add_status(media.model_copy(update={"emitted": emitted}))
    assert _bars(tracker)["frames"] == (1, 4)  # the media event's message and its three ranges
    assert _bars(tracker)["vision"] == (0, 14)  # the chunks the ranges promise
    tracker.add_status(_unit("frames", "range", 0, 3))
    tracker.add_status(_unit("frames", "range", 2, 3))
    assert _bars(tracker)["frames"] == (3, 4)
    tracker.add_status(_unit("frames", "range", 1, 3))
    assert _bars(tracker)["frames"] == (4, 4)


def test_the_callback_senders_status_is_not_the_profile_being_stored() -> None:
    tracker = Tracker([INTERVIEW])
    profile = _profile()
    tracker.add_status(_status("sink", caused_by=profile.event_id).model_copy(update={"unit": CALLBACK_UNIT}))
    assert str(profile.event_id) not in tracker.stored
    tracker.add_status(_status("sink", caused_by=profile.event_id))
    assert str(profile.event_id) in tracker.stored


def test_a_replayed_profile_alone_does_not_finish_the_demo() -> None:
    # On a re-run fusion re-emits the stored profile at once, while the other stages still redo their work.
    tracker = Tracker([INTERVIEW])
    profile = _profile()
    tracker.add_profile(profile)
    tracker.add_status(_status("sink", caused_by=profile.event_id))
    tracker.add_status(_status("ingest"))
    tracker.add_status(_status("frames"))
    assert not tracker.finished()
    for i in range(14):
        tracker.add_status(_unit("vision", "chunk", i, 14))
    for i in range(3):
        tracker.add_status(_unit("speech", "segment", i, 3, state="failed" if i == 2 else "completed"))
    assert tracker.finished()


def test_an_interview_rejected_at_ingest_is_finished_without_a_profile() -> None:
    tracker = Tracker([INTERVIEW])
    tracker.add_status(
        _status("ingest", "failed", reason={"code": "no_consent", "message": "no consent", "retryable": False})
    )
    assert tracker.finished() and tracker.failed(INTERVIEW)


def test_the_demo_publishes_each_candidates_self_identification_and_names_the_audit(tmp_path: Path) -> None:
    from datetime import timedelta

    from services.common.contracts import InterviewCompleted, message_key
    from services.demo import DEMO_INTERVIEWS, audit_command, self_identification
    from services.identity.local import ensure_local_identities

    base = InterviewCompleted.model_validate(example("interview-completed.en-IE"))
    events = [
        base.model_copy(
            update={
                "interview_id": demo.interview_id,
                "candidate_ref": f"cand_demo{i:03d}",
                "tenant_id": "demo",
                "interview_started_at": base.interview_started_at + timedelta(days=i),
            }
        )
        for i, demo in enumerate(DEMO_INTERVIEWS)
    ]
    selfid = self_identification(events)
    assert [(s.candidate_ref, s.sex, s.race_ethnicity) for s in selfid] == [
        ("cand_demo000", "female", "black_or_african_american"),
        ("cand_demo001", "male", "white"),
        ("cand_demo002", "declined_to_answer", "declined_to_answer"),
    ]
    assert message_key(selfid[0]) == b"demo/cand_demo000"
    assert self_identification(events) == selfid  # the same ids on a re-run: the sink keeps one row each
    day = base.interview_started_at.date()
    identities = ensure_local_identities(tmp_path, "demo")
    as_auditor = (
        f"SIGHTLINE_IDENTITY__TOKENS_FILE={tmp_path / 'tokens.json'} "
        f"SIGHTLINE_IDENTITY__TOKEN_FILE={tmp_path / 'demo-auditor.token'}"
    )
    assert audit_command(events, identities) == (
        f"{as_auditor} sightline audit bias --tenant demo --from {day} --to {day + timedelta(days=2)} "
        "--out .local/reports/bias-audit.html"
    )


def test_the_local_identities_are_one_per_role_drawn_once_and_private(tmp_path: Path) -> None:
    from services.identity.local import ensure_local_identities
    from services.identity.settings import IdentitySettings
    from services.identity.tokens import resolve_identity

    first = ensure_local_identities(tmp_path / "ids", "demo")
    tokens = {name: path.read_text() for name, path in first.token_files.items()}
    roles = {}
    for name, path in first.token_files.items():
        assert path.stat().st_mode & 0o777 == 0o600
        identity, _ = resolve_identity(IdentitySettings(tokens_file=first.tokens_file, token_file=path))
        assert identity.name == name and identity.tenant_id == "demo"
        roles[name] = identity.role.value
    assert roles == {"demo-admin": "admin", "demo-analyst": "analyst", "demo-reviewer": "reviewer",
                     "demo-auditor": "auditor", "demo-console": "reviewer"}  # fmt: skip
    assert "slt_" not in first.tokens_file.read_text()  # digests only
    again = ensure_local_identities(tmp_path / "ids", "demo")
    assert {name: path.read_text() for name, path in again.token_files.items()} == tokens  # reused
    first.token_files["demo-admin"].unlink()
    redrawn = ensure_local_identities(tmp_path / "ids", "demo")
    assert redrawn.token_files["demo-analyst"].read_text() != tokens["demo-analyst"]


def test_another_tenants_local_identities_leave_the_first_ones_valid(tmp_path: Path) -> None:
    from services.identity.local import ensure_local_identities
    from services.identity.settings import IdentitySettings
    from services.identity.tokens import resolve_identity

    demo = ensure_local_identities(tmp_path / "ids", "demo")
    local = ensure_local_identities(tmp_path / "ids", "local")
    assert local.tokens_file == demo.tokens_file
    for ids, name, tenant in ((demo, "demo-analyst", "demo"), (local, "local-analyst", "local")):
        identity, _ = resolve_identity(IdentitySettings(tokens_file=ids.tokens_file, token_file=ids.token_files[name]))
        assert (identity.name, identity.tenant_id) == (name, tenant)
    # Drawing one tenant's again replaces only its own entries.
    again = ensure_local_identities(tmp_path / "ids", "demo")
    assert again.token_files["demo-analyst"].read_text() == demo.token_files["demo-analyst"].read_text()
