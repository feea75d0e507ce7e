"""`sightline analyse` end to end on the session's local stack: generated recordings in, profiles out, through
the six stages it starts as processes; and a batch interrupted after its first profile resumes without
publishing the finished interview again."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.common.clickhouse import DirectWarehouse
from services.common.contracts import InterviewCompleted, decode, topic_for
from services.common.settings import Settings
from services.samples import SampleSpec, generate_interview
from tests.integration.kafka_helpers import pipeline_settings, read_all
from tests.integration.test_pipeline_restart import stack_env
from tests.interrupts import hear_interrupts

ROOT = Path(__file__).resolve().parents[2]
IN = topic_for(InterviewCompleted)
RUN_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short generated interviews (a strong and a weak candidate) in a directory, with a note beside them."""
    out = tmp_path_factory.mktemp("recordings")
    for name, candidate, seed in (("anna", "strong", 41), ("ben", "weak", 42)):
        spec = SampleSpec(seed=seed, duration=12.0, fps=10, candidate=candidate)
        generate_interview(spec, out, name=name)
    (out / "notes.txt").write_text("not a recording")
    return out


@pytest.fixture
def settings(stack_settings: Settings, tmp_path: Path) -> Settings:
    return pipeline_settings(stack_settings, tmp_path)


def analyse_env(settings: Settings) -> dict[str, str]:
    stack = settings.stack
    return {
        **stack_env(settings),
        "SIGHTLINE_CLICKHOUSE__DSN": settings.clickhouse.dsn,
        "SIGHTLINE_STACK__HOME": str(stack.home),
        "SIGHTLINE_STACK__KAFKA_PORT": str(stack.kafka_port),
        "SIGHTLINE_STACK__S3_PORT": str(stack.s3_port),
        "SIGHTLINE_STACK__BROKER_STORAGE": stack.broker_storage,
        "SIGHTLINE_WORKER__COMMIT_INTERVAL_S": "0.2",
        "SIGHTLINE_OBSERVABILITY__LOG_FORMAT": "text",
        "COLUMNS": "200",
    }


def command(recordings: Path, state: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", "analyse", str(recordings), "--consent-scopes", "default",
            "--language", "en", "--jurisdiction", "US", "--state", str(state), *extra]  # fmt: skip


def finished(state: Path) -> list[dict[str, object]]:
    if not state.exists():
        return []
    return [json.loads(line) for line in state.read_text().splitlines() if line.strip()]


async def published_ids(settings: Settings) -> list[str]:
    records = await read_all(settings.kafka, IN, quiet_s=2.0)
    return [str(decode(IN, r.value).event_id) for r in records]


async def test_a_directory_of_recordings_becomes_profiles_and_reports(
    settings: Settings, recordings: Path, tmp_path: Path
) -> None:
    state = tmp_path / "finished.jsonl"
    done = subprocess.run(
        command(recordings, state, "--concurrency", "2"), env=analyse_env(settings), cwd=ROOT,
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    rows = {Path(str(r["path"])).name: r for r in finished(state)}
    assert sorted(rows) == ["anna.mp4", "ben.mp4"]  # the note is not a recording
    for name, row in rows.items():
        assert row["failure"] == "" and row["label"] in ("recommend", "pending", "reject")
        assert f"report of {recordings / name}: {row['report']}" in output
        report = Path(str(row["report"]))
        assert report.exists() and "<html" in report.read_text(encoding="utf-8")[:500].lower()
        assert str(row["interview_id"]) in output and str(row["overall"]) in output
        assert row["strongest"] and row["weakest"]
    assert float(str(rows["anna.mp4"]["overall"])) > float(str(rows["ben.mp4"]["overall"]))
    assert "started ingest, frames, vision, speech, fusion, sink" in output
    assert "stopped the stages this command started" in output
    assert "question windows not given" in output  # the seam: no questions file, windows unknown

    # One interview-completed event per recording, as an HR system would publish it.
    published = await published_ids(settings)
    assert sorted(published) == sorted(str(r["event_id"]) for r in rows.values())
    # The sink stored both profiles (it has stopped, so the embedded ClickHouse can be opened here).
    warehouse = DirectWarehouse(settings.clickhouse)
    try:
        _, stored = warehouse.query_rows(
            f"SELECT interview_id FROM {settings.clickhouse.database}.latest_profiles ORDER BY interview_id"
        )
        _, exports = warehouse.query_rows(
            f"SELECT actor, action, interview_id, outcome FROM {settings.clickhouse.database}.access_log "
            "WHERE subject = 'analyse export' ORDER BY interview_id"
        )
    finally:
        warehouse.close()
    assert [r[0] for r in stored] == sorted(str(r["interview_id"]) for r in rows.values())
    # Each exported report is a read in the access log, by the identity the command acted as.
    assert exports == [["ops", "report", r[0], "allowed"] for r in stored]

    # Again: nothing is published or started, every profile is shown from the record of finished interviews.
    again = subprocess.run(command(recordings, state), env=analyse_env(settings), cwd=ROOT, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stderr.count("already analysed") == 2 and "started" not in again.stderr
    assert sorted(await published_ids(settings)) == sorted(published)


async def test_an_interrupted_batch_resumes_without_redoing_finished_interviews(
    settings: Settings, recordings: Path, tmp_path: Path
) -> None:
    state = tmp_path / "finished.jsonl"
    args = command(recordings, state, "--concurrency", "1", "--tenant", "resume")
    log = tmp_path / "first.log"
    with log.open("w") as sink:
        first = subprocess.Popen(
            args, env=analyse_env(settings), cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=hear_interrupts
        )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not finished(state) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)  # Ctrl-C after the first profile
    first.wait(timeout=180)
    out = log.read_text()
    [done_first] = finished(state)
    if first.returncode != 130:  # the second finished too before the signal arrived: nothing left to resume
        pytest.fail(f"not interrupted (exit {first.returncode}):\n{out}")
    assert "interrupted; 1 finished" in out and "the same command resumes" in out
    assert "stopped the stages this command started" in out
    assert not any(p for p in _stage_processes(settings))

    second = subprocess.run(args, env=analyse_env(settings), cwd=ROOT, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S)  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stderr.count("already analysed") == 1 and str(done_first["path"]) in second.stderr
    rows = finished(state)
    assert len(rows) == 2 and len({r["event_id"] for r in rows}) == 2  # nothing lost, nothing twice
    published = await published_ids(settings)
    assert published.count(str(done_first["event_id"])) == 1  # the finished one was not published again
    assert {str(r["event_id"]) for r in rows} == set(published)


def _stage_processes(settings: Settings) -> list[int]:
    """Worker processes still running with this test's topic prefix in their environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        prefix = f"SIGHTLINE_KAFKA__TOPIC_PREFIX={settings.kafka.topic_prefix}".encode()
        if b"services.cli\x00worker" in cmdline and prefix in environ.split(b"\x00"):
            found.append(int(entry.name))
    return found
