"""Debian's Prometheus scrapes a running worker of the local stack, loads the alert rules and answers queries."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from services.common.contracts import (
    InterviewCompleted,
    MediaIngested,
    StageStatus,
    dead_letter_topic,
    encode,
    message_key,
    topic_for,
)
from services.common.settings import Settings
from services.common.worker import StageWorker
from tests.integration.kafka_helpers import create_topics, isolated, publish, wait_for
from tests.integration.stage_fixtures import EchoStage, example
from tests.unit.test_dashboards import dashboard_expressions, substitute

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "sightline.json"
IN = topic_for(InterviewCompleted)
HANDLED = [f"prom-{i}" for i in range(5)]
# One rejected (a recorded failure) and one that always crashes (retried, then dead-lettered).
ALL_IDS = [*HANDLED, "prom-reject", "prom-crash"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _messages() -> list[tuple[bytes | None, bytes]]:
    base = InterviewCompleted.model_validate(example("interview-completed"))
    events = [base.model_copy(update={"interview_id": i, "event_id": uuid.uuid4()}) for i in ALL_IDS]
    return [(message_key(e), encode(e)) for e in events]


@pytest.fixture
async def running_worker(stack_settings: Settings) -> AsyncIterator[tuple[StageWorker, EchoStage]]:
    settings = isolated(stack_settings)
    await create_topics(
        settings.kafka, [IN, topic_for(MediaIngested), topic_for(StageStatus), dead_letter_topic("ingest")]
    )
    await publish(settings.kafka, IN, _messages())
    stage = EchoStage()
    worker = StageWorker(stage, settings, group_id=f"g-prometheus-{uuid.uuid4().hex[:6]}")
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: task.done() or len(stage.handled) == len(HANDLED), 60, "the worker to handle messages")
        assert not task.done()
        yield worker, stage
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[int], int]]:
    """Starts Prometheus on deploy/prometheus/prometheus-local.yml aimed at a worker's port; returns its port."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: run scripts/ensure-system-packages.sh (Debian package prometheus)")
    procs: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "prometheus.log"

    def start(target_port: int) -> int:
        port = _free_port()
        config = tmp_path / "prometheus.yml"
        _write_config(config, target_port)
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'data'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        return port

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.returncode not in (0, -15):
                print(log.read_text()[-4000:])


def _write_config(config: Path, target_port: int) -> None:
    """deploy/prometheus/prometheus-local.yml with the worker as target and a one-second scrape."""
    data = yaml.safe_load((PROMETHEUS_DIR / "prometheus-local.yml").read_text())
    data["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    data["rule_files"] = [str(PROMETHEUS_DIR / name) for name in data["rule_files"]]
    (job,) = data["scrape_configs"]
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{target_port}"]
    config.write_text(yaml.safe_dump(data))


async def _api(session: aiohttp.ClientSession, port: int, path: str, **params: str) -> Any:
    async with session.get(f"http://127.0.0.1:{port}{path}", params=params) as response:
        body = await response.json()
        assert response.status == 200 and body["status"] == "success", body
        return body["data"]


async def _scalar(session: aiohttp.ClientSession, port: int, query: str) -> float | None:
    result = (await _api(session, port, "/api/v1/query", query=query))["result"]
    return float(result[0]["value"][1]) if result else None


async def test_prometheus_scrapes_a_worker_and_loads_the_rules(
    running_worker: tuple[StageWorker, EchoStage], start_prometheus: Callable[[int], int]
) -> None:
    worker, stage = running_worker
    assert worker.health.bound_port
    port = start_prometheus(worker.health.bound_port)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def ready() -> bool:
            try:
                async with session.get(f"http://127.0.0.1:{port}/-/ready") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False  # still starting

        await wait_for(ready, 30, "Prometheus to be ready")
        await wait_for(lambda: _scalar(session, port, 'up{job="sightline"}'), 30, "a successful scrape of the worker")

        async def consumed_everything() -> bool:
            value = await _scalar(session, port, 'sum(sightline_messages_in_total{job="sightline", stage="ingest"})')
            return value == len(ALL_IDS)

        await wait_for(consumed_everything, 60, "the worker's counters in Prometheus")
        outputs = await _scalar(session, port, 'sum(sightline_messages_out_total{topic=~".*media-ingested.*"})')
        assert outputs == len(HANDLED) == len(stage.handled)
        await wait_for(
            lambda: _scalar(session, port, "sum(sightline_messages_dead_lettered_total)"), 30, "the dead letter"
        )
        assert await _scalar(session, port, "sum(sightline_messages_dead_lettered_total)") == 1
        failed = (await _api(session, port, "/api/v1/query", query="sightline_messages_failed_total"))["result"]
        assert {r["metric"]["code"] for r in failed} >= {"no_consent"}
        assert {r["metric"]["namespace"] for r in failed} == {"local"}

        # The alert rules load in Prometheus itself and evaluate without errors.
        groups = (await _api(session, port, "/api/v1/rules"))["groups"]
        rule_groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
        assert {g["name"] for g in groups} == {g["name"] for g in rule_groups}
        await wait_for(lambda: _rules_evaluated(session, port), 30, "every rule to be evaluated once without error")

        # Every dashboard query runs; those over the services' own metrics return data.
        for where, expr in dashboard_expressions(json.loads(DASHBOARD.read_text())):
            data = await _api(session, port, "/api/v1/query", query=substitute(expr))
            if "sightline_" in expr and "[24h]" not in expr and "rate(" not in expr:
                assert data["result"], f"{where}: {expr} returned nothing"


async def _rules_evaluated(session: aiohttp.ClientSession, port: int) -> bool:
    rules = [r for g in (await _api(session, port, "/api/v1/rules"))["groups"] for r in g["rules"]]
    assert all(r["health"] != "err" for r in rules), [r for r in rules if r["health"] == "err"]
    return all(r["health"] == "ok" for r in rules)
