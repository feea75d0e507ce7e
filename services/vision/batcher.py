"""One queue of frames shared by every chunk in flight, so many chunks share a forward pass.

Handlers `submit` the frames of a chunk and await their results. A single consumer task takes up to
``max_batch`` frames, waiting at most ``max_wait_s`` after the first one for more to arrive, and runs
the analysis in a dedicated thread (the models are not thread-safe and the event loop must keep
polling). Frames of one chunk may be split over consecutive batches; results keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class _Item(Generic[In, Out]):
    value: In
    future: asyncio.Future[Out]


class Batcher(Generic[In, Out]):
    def __init__(self, run: Callable[[Sequence[In]], list[Out]], max_batch: int, max_wait_s: float) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[_Item[In, Out]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vision-batch")
        self._task: asyncio.Task[None] | None = None
        #: Sizes of the batches run so far (observability and tests).
        self.batch_sizes: list[int] = []

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="vision-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._executor.shutdown(wait=True)

    async def submit(self, values: Sequence[In]) -> list[Out]:
        self.start()
        loop = asyncio.get_running_loop()
        items = [_Item[In, Out](v, loop.create_future()) for v in values]
        for item in items:
            self._queue.put_nowait(item)
        return list(await asyncio.gather(*(item.future for item in items)))

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            live = [item for item in batch if not item.future.done()]  # a cancelled handler's frames are skipped
            if not live:
                continue
            self.batch_sizes.append(len(live))
            try:
                outputs = await loop.run_in_executor(self._executor, self._run, [item.value for item in live])
            except Exception as exc:  # every waiting handler sees the failure and retries its chunk
                for item in live:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            for item, out in zip(live, outputs, strict=True):
                if not item.future.done():
                    item.future.set_result(out)


__all__ = ["Batcher"]
