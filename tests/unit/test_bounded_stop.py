"""A stop never waits for the broker beyond its bound: the steps that need the broker share
`shutdown_timeout_s`, the ones after a step that gave up are skipped, and a periodic commit gives way to a stop.
(With a real broker hung: tests/integration/test_worker_shutdown.py.)"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import pytest

from services.common.contracts import EventBase, StageName
from services.common.handler import MessageMeta
from services.common.settings import Settings, WorkerSettings
from services.common.worker import StageWorker


class Plain:
    stage = StageName.INGEST
    input_topics: Sequence[str] = ()

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        return []


def worker(bound_s: float) -> StageWorker:
    return StageWorker(Plain(), Settings(worker=WorkerSettings(shutdown_timeout_s=bound_s)))


async def test_the_steps_of_a_stop_share_one_bound_and_after_one_gives_up_the_rest_are_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = worker(0.5)
    ran: list[str] = []

    async def step(name: str, seconds: float) -> None:
        ran.append(name)
        await asyncio.sleep(seconds)

    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert await w._bounded("quick", step("quick", 0.3))
        assert not await w._bounded("hung", step("hung", 60))  # gets what is left of the bound, not 0.5 s more
        assert not await w._bounded("after", step("after", 0))
    took = time.monotonic() - began
    assert 0.5 <= took < 1.0
    assert ran == ["quick", "hung"]
    assert "shutdown gave up waiting for the broker after 0.5s (at: hung)" in caplog.text


async def test_a_periodic_commit_gives_way_to_a_stop_but_not_otherwise() -> None:
    w = worker(5)
    assert await w._unless_stopping(asyncio.sleep(0.01))
    with pytest.raises(RuntimeError, match="refused"):
        await w._unless_stopping(_raise(RuntimeError("refused")))

    hung = asyncio.ensure_future(asyncio.sleep(60))
    asyncio.get_running_loop().call_later(0.1, w.stop)
    assert not await asyncio.wait_for(w._unless_stopping(hung), 5)
    await asyncio.sleep(0)
    assert hung.cancelled()


async def _raise(exc: Exception) -> None:
    raise exc
