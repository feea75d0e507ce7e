"""`sightline analyse` before anything is published: which recordings, which questions, which event, and the
refusals (no consent, a model that is not shipped) that happen before the pipeline is touched."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from services.analyse.consent import (
    DEFAULT_SCOPES,
    ConsentError,
    consent_from_scopes,
    resolve_consent,
    with_attested_notice,
)
from services.analyse.events import Options, plan
from services.analyse.inputs import InputError, Recording, expand
from services.analyse.questions import QuestionsError, plan_questions, read_questions_file
from services.cli import cli
from services.common.competency import SHIPPED_MODELS_DIR, CompetencyModelLibrary
from services.common.contracts import ConsentScope

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LIBRARY = CompetencyModelLibrary.from_directory(SHIPPED_MODELS_DIR)
ENGINEER = LIBRARY.get("software-engineer", "1.0")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def clip(path: Path, seconds: float = 3.0) -> Path:
    """A short real recording (video and audio) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=160x120:rate=5",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-shortest", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


def options(**changes: object) -> Options:
    base = {"consent": consent_from_scopes("default", NOW), "language": "en"}
    return Options(**{**base, **changes})  # type: ignore[arg-type]


# ---- which recordings -----------------------------------------------------------------------------------------


def test_directories_give_every_media_file_in_them_once(tmp_path: Path) -> None:
    for name in ("b.mp4", "a.MOV", "sub/c.webm", "sub/d.m4a", "e.mkv", "f.avi", "g.mp3", "h.wav", "i.ogg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    for skipped in ("notes.txt", "a.truth.json", ".cache/hidden.mp4"):
        (tmp_path / skipped).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / skipped).write_bytes(b"x")
    found = expand([tmp_path, tmp_path / "b.mp4"])
    names = [r.path.relative_to(tmp_path).as_posix() for r in found]
    assert names == ["a.MOV", "b.mp4", "e.mkv", "f.avi", "g.mp3", "h.wav", "i.ogg", "sub/c.webm", "sub/d.m4a"]


def test_a_csv_manifest_gives_one_recording_per_row_relative_to_itself(tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "one.mp4").write_bytes(b"x")
    (tmp_path / "rec" / "two.wav").write_bytes(b"x")
    manifest = tmp_path / "batch.csv"
    manifest.write_text(
        "path,candidate_ref,job,questions,language,jurisdiction\n"
        "rec/one.mp4,cand-001,sales,q.yaml,zh,CN\n"
        "\n"
        "rec/two.wav,,,,,\n",
        encoding="utf-8",
    )
    one, two = expand([manifest])
    assert one == Recording(
        tmp_path / "rec" / "one.mp4", "cand-001", "sales", tmp_path / "q.yaml", "zh", "CN", source=f"{manifest}:2"
    )
    assert (two.path, two.candidate_ref, two.job, two.questions, two.language) == (
        tmp_path / "rec" / "two.wav", None, None, None, None,
    )  # fmt: skip


def test_a_jsonl_manifest_and_its_mistakes_are_named_by_line(tmp_path: Path) -> None:
    (tmp_path / "one.mp4").write_bytes(b"x")
    good = tmp_path / "batch.jsonl"
    good.write_text(json.dumps({"path": "one.mp4", "jurisdiction": "US-IL"}) + "\n\n", encoding="utf-8")
    [row] = expand([good])
    assert (row.path, row.jurisdiction, row.source) == (tmp_path / "one.mp4", "US-IL", f"{good}:1")
    cases = {
        '{"path": "one.mp4", "camera": "front"}': "unknown column(s) camera",
        '{"candidate_ref": "c-1"}': "the path is missing",
        '{"path": "gone.mp4"}': "no such file",
        '["one.mp4"]': "expected a JSON object",
        '{"path": 3}': "path must be text",
    }
    for line, message in cases.items():
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({"path": "one.mp4"}) + "\n" + line + "\n", encoding="utf-8")
        with pytest.raises(InputError, match=re.escape(message)) as raised:
            expand([bad])
        assert f"{bad}:2" in str(raised.value)


def test_paths_that_are_neither_media_nor_manifests_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a recording or a manifest"):
        expand([tmp_path / "notes.txt"])
    with pytest.raises(InputError, match="no such file or directory"):
        expand([tmp_path / "missing.mp4"])


# ---- which questions ----------------------------------------------------------------------------------------


def test_timed_questions_fill_missing_ends_and_take_the_banks_ids(tmp_path: Path) -> None:
    bank = ENGINEER.questions[0]
    file = tmp_path / "questions.yaml"
    file.write_text(
        f"- text: {json.dumps(bank.text.en)}\n  start: 2\n- text: Why us?\n  start: 30\n  end: 45\n"
        "- text: Anything else?\n  start: 50\n",
        encoding="utf-8",
    )
    planned = plan_questions(read_questions_file(file), ENGINEER, 60.0, "en")
    assert planned.windows_known
    assert [(q["question_id"], q["start_s"], q["end_s"], q["pressure"]) for q in planned.questions] == [
        (bank.id, 2.0, 30.0, bank.pressure),
        ("q2", 30.0, 45.0, False),
        ("q3", 50.0, 60.0, False),
    ]


def test_without_starts_no_window_is_sent_and_the_questions_go_untimed_in_order(tmp_path: Path) -> None:
    bank = ENGINEER.questions[0]
    file = tmp_path / "questions.json"
    file.write_text(json.dumps(["Tell me about yourself.", {"text": bank.text.en}]), encoding="utf-8")
    specs = read_questions_file(file)
    planned = plan_questions(specs, ENGINEER, 42.5, "en")
    assert not planned.windows_known and planned.questions == []
    assert [(q["question_id"], q["text"]) for q in planned.untimed] == [
        ("q1", "Tell me about yourself."),
        (bank.id, bank.text.en),  # a bank question keeps the bank's id, so its competencies score it
    ]
    # Without a file the job's bank is what the pipeline matches against: nothing is listed in the event.
    from_bank = plan_questions(specs, ENGINEER, 42.5, "en", from_file=False)
    assert from_bank.questions == [] and from_bank.untimed == [] and len(from_bank.asked) == 2


def test_question_files_with_mistakes_are_refused_with_the_item(tmp_path: Path) -> None:
    file = tmp_path / "questions.yaml"
    for text, message in (
        ("- text: A\n  start: 1\n- text: B\n", "a start for every question or for none"),
        ("- text: A\n  start: 99\n", "starts at 99 s, after the recording's end"),
        ("- text: A\n  start: -1\n", "question 1: start must be seconds"),
        ("- text: A\n  end: 5\n", "an end but no start"),
        ("- {start: 1}\n", "question 1: the text is missing"),
        ("{}\n", "expected a non-empty list"),
    ):
        file.write_text(text, encoding="utf-8")
        with pytest.raises(QuestionsError, match=message):
            plan_questions(read_questions_file(file), ENGINEER, 60.0, "en")


# ---- the event ------------------------------------------------------------------------------------------------


@needs_ffmpeg
def test_the_event_id_comes_from_the_content_and_the_options(tmp_path: Path) -> None:
    original = clip(tmp_path / "a" / "interview.mp4")
    first = plan(Recording(original), options(), LIBRARY, NOW)
    again = plan(Recording(original), options(), LIBRARY, datetime(2027, 1, 1, tzinfo=UTC))
    assert first.event.event_id == again.event.event_id and first.event.interview_id == again.event.interview_id
    copy = tmp_path / "b" / "interview.mp4"
    copy.parent.mkdir()
    shutil.copy(original, copy)
    assert plan(Recording(copy), options(), LIBRARY, NOW).event.event_id == first.event.event_id
    changed = [
        plan(Recording(original), options(jurisdiction="US"), LIBRARY, NOW),
        plan(Recording(original), options(job="sales"), LIBRARY, NOW),
        plan(Recording(original, candidate_ref="cand-0042"), options(), LIBRARY, NOW),
        plan(Recording(original), options(consent=consent_from_scopes("transcription", NOW)), LIBRARY, NOW),
    ]
    assert len({first.event.event_id, *(p.event.event_id for p in changed)}) == 5

    event = first.event
    assert event.interview_id.startswith("interview-")
    assert (event.job.competency_model.id, event.job.competency_model.version) == ("software-engineer", "1.0")
    assert (event.locale, event.jurisdiction, event.tenant_id) == ("en", "EU", "local")
    assert event.consent.scopes == list(DEFAULT_SCOPES) and ConsentScope.EMOTION_INFERENCE not in event.consent.scopes
    # --consent-scopes attests the notice too: dated at the interview's start, as the EU rules ask (before it).
    assert event.consent.notice_given_at == event.interview_started_at
    [media] = event.media
    assert media.uri == original.resolve().as_uri() and media.kind == "video_with_audio"
    assert media.checksum is not None and media.size_bytes == original.stat().st_size
    # No questions file: no windows and no list; the pipeline finds the windows and matches the job's bank.
    assert event.questions == [] and event.untimed_questions == []
    assert not first.windows_known
    assert (event.interview_ended_at - event.interview_started_at).total_seconds() == pytest.approx(3.0, abs=0.2)


@needs_ffmpeg
def test_a_job_that_is_not_shipped_is_refused_naming_the_shipped_ones(tmp_path: Path) -> None:
    recording = Recording(clip(tmp_path / "x.mp4"))
    with pytest.raises(InputError, match=r"cm-data-engineering is not configured \(known: .*software-engineer"):
        plan(recording, options(job="cm-data-engineering"), LIBRARY, NOW)
    with pytest.raises(InputError, match=re.escape("software-engineer@9.9 is not configured")):
        plan(recording, options(job="software-engineer@9.9"), LIBRARY, NOW)


# ---- consent ------------------------------------------------------------------------------------------------


def test_consent_is_never_assumed(tmp_path: Path) -> None:
    with pytest.raises(ConsentError, match="needs the candidates' consent"):
        resolve_consent(None, None, NOW)
    with pytest.raises(ConsentError, match="unknown consent scope"):
        resolve_consent(None, "face_analysis,mind_reading", NOW)
    refused = tmp_path / "consent.json"
    refused.write_text(json.dumps({"granted": False, "scopes": [], "version": "v1", "record_ref": "CR-1"}))
    with pytest.raises(ConsentError, match="did not consent"):
        resolve_consent(refused, None, NOW)
    granted = tmp_path / "consent.yaml"
    granted.write_text(
        "granted: true\nscopes: [audio_analysis, transcription, automated_scoring]\nversion: v2\n"
        "granted_at: '2026-12-01T10:00:00Z'\nrecord_ref: CR-2\n"
    )
    consent = resolve_consent(granted, None, NOW)
    assert consent.scopes == ["audio_analysis", "transcription", "automated_scoring"] and consent.record_ref == "CR-2"
    # A consent record speaks for itself: no notice is added to it (ingest refuses it where notice is required).
    assert with_attested_notice(consent, NOW).notice_given_at is None


def test_the_command_refuses_without_consent_and_states_the_default_scopes(tmp_path: Path) -> None:
    recording = tmp_path / "x.mp4"
    recording.write_bytes(b"x")
    env = {"SIGHTLINE_STACK__HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(cli, ["analyse", str(recording)], env=env)
    assert result.exit_code == 2
    assert "needs the candidates' consent" in result.output and ",".join(DEFAULT_SCOPES) in result.output
    assert not (tmp_path / "home").exists()  # nothing was started
    helped = CliRunner().invoke(cli, ["analyse", "--help"], env=env)
    assert "default scopes: video_analysis, audio_analysis, transcription, face_analysis, automated_scoring" in (
        " ".join(helped.output.split())
    )


@needs_ffmpeg
def test_the_command_refuses_an_unknown_model_before_starting_anything(tmp_path: Path) -> None:
    recording = clip(tmp_path / "x.mp4")
    env = {"SIGHTLINE_STACK__HOME": str(tmp_path / "home")}
    args = ["analyse", str(recording), "--consent-scopes", "default", "--job", "cm-data-engineering@2025.1"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1
    assert "competency model cm-data-engineering@2025.1 is not configured" in " ".join(result.output.split())
    assert not (tmp_path / "home").exists()


def test_models_list_shows_the_shipped_models() -> None:
    result = CliRunner().invoke(cli, ["models", "list"])
    assert result.exit_code == 0
    for model in LIBRARY:
        assert model.id in result.output and model.title.en in result.output


@needs_ffmpeg
def test_a_batch_skips_finished_interviews_and_keeps_unreadable_files_as_failures(tmp_path: Path) -> None:
    from services.analyse.run import prepare
    from services.analyse.state import StateFile, Summary

    good, other = clip(tmp_path / "good.mp4"), clip(tmp_path / "other.mp4", seconds=2.0)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video" * 100)
    state = StateFile(tmp_path / "state.jsonl")
    first = plan(Recording(good), options(), LIBRARY, NOW)
    state.add([Summary(first.event_id, first.event.interview_id, str(good), overall="71.0", label="recommend")])
    said: list[str] = []
    batch = prepare(expand([tmp_path]), options(), LIBRARY, state.load(), NOW, said.append)
    assert [p.recording.path for p in batch.planned] == [other]  # only what is not finished yet
    assert [Path(s.path).name for s in batch.summaries] == ["broken.mp4", "good.mp4"]
    failed, done = batch.summaries
    assert not failed.ok and "broken.mp4" in failed.failure and done.ok and done.label == "recommend"
    assert any("already analysed" in line for line in said) and not batch.ok


# ---- identity ---------------------------------------------------------------------------------------------------


def test_reports_are_read_as_the_configured_identity_when_it_may_read_the_tenants_reports(tmp_path: Path) -> None:
    from services.access import AccessDenied
    from services.analyse.identity import analyse_caller
    from services.common.settings import Settings
    from services.identity.settings import IdentitySettings
    from tests.identities import token_of, tokens_json

    def settings(name: str | None) -> Settings:
        identity = IdentitySettings(tokens_json=tokens_json(), token=token_of(name) if name else None)
        return Settings().model_copy(
            update={"identity": identity, "stack": Settings().stack.model_copy(update={"home": tmp_path})}
        )

    caller, env = analyse_caller(settings("acme-analyst"), "acme")
    assert caller.identity.name == "acme-analyst" and env == {}  # the stages already know the configured tokens
    with pytest.raises(AccessDenied, match="tenant"):
        analyse_caller(settings("acme-analyst"), "globex")  # another tenant's reports
    with pytest.raises(AccessDenied, match="roles allowed"):
        analyse_caller(settings("acme-auditor"), "acme")  # an auditor reads audits, not reports
    # No identity configured: the tenant's local analyst, whose tokens the stages it starts are given.
    caller, env = analyse_caller(settings(None), "local")
    assert (caller.identity.name, caller.identity.tenant_id, caller.identity.role.value) == (
        "local-analyst",
        "local",
        "analyst",
    )
    assert env == {"SIGHTLINE_IDENTITY__TOKENS_FILE": str(tmp_path / "identities" / "tokens.json")}
